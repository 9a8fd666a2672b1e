"""calls: unique ids as long as Asterisk makes them, dialplan versions as long as they are stored

calls.uniqueid and linkedid were 64 characters; Asterisk's are up to 150 (AST_MAX_UNIQUEID:
systemname-epoch.sequence). calls.dialplan_version was 80, dialplan_versions.version_id 120.
PostgreSQL refuses longer values, so a call with such an id was not stored at all.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WIDER = {"uniqueid": (64, 150), "linkedid": (64, 150), "dialplan_version": (80, 120)}


def _alter(to: int) -> None:
    with op.batch_alter_table("calls") as batch:
        for column, sizes in WIDER.items():
            batch.alter_column(column, existing_type=sa.String(sizes[1 - to]),
                               type_=sa.String(sizes[to]), existing_nullable=column != "uniqueid")


def upgrade() -> None:
    _alter(1)


def downgrade() -> None:
    # values longer than the old sizes are cut: PostgreSQL would refuse the change otherwise
    for column, (old, _) in WIDER.items():
        op.execute(sa.text(f"UPDATE calls SET {column} = SUBSTR({column}, 1, {old}) "
                           f"WHERE LENGTH({column}) > {old}"))
    _alter(0)
