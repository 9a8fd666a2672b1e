"""cluster-wide presence: each node's lease and the operators its Asterisk has ringing or in use
(callrouting.presence_cluster, docs/decisions/0010)

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "presence_leases",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_table(
        "presence_claims",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("extension", sa.String(40), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("presence_claims")
    op.drop_table("presence_leases")
