"""when each stored dialplan version last became active (a rollback returns to the version that
served before, not merely to an older row)

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dialplan_versions") as batch:
        batch.add_column(sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))
    # the active row served last: give it a time so a rollback never picks it
    op.execute("UPDATE dialplan_versions SET activated_at = created_at WHERE active")


def downgrade() -> None:
    with op.batch_alter_table("dialplan_versions") as batch:
        batch.drop_column("activated_at")
