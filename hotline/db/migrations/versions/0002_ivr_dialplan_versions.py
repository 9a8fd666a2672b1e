"""ivr dialplan versions

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dialplan_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialplan_versions")),
        sa.UniqueConstraint("sha", name=op.f("uq_dialplan_versions_sha")),
    )
    with op.batch_alter_table("dialplan_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dialplan_versions_version_id"), ["version_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dialplan_versions_active"), ["active"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dialplan_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dialplan_versions_active"))
        batch_op.drop_index(batch_op.f("ix_dialplan_versions_version_id"))
    op.drop_table("dialplan_versions")
