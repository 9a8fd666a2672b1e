"""teams.lead_id references operators on every database

0001 declares the key with use_alter (teams and operators refer to each other); Alembic's
create_table leaves such a key out where ALTER TABLE can add it, so on PostgreSQL teams.lead_id
referenced nothing (a team could name a lead who does not exist). SQLite got the key inline
in CREATE TABLE, so this adds it only where it is missing.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NAME = "fk_teams_lead_id_operators"


def _has_key() -> bool:
    keys = sa.inspect(op.get_bind()).get_foreign_keys("teams")
    return any(k["constrained_columns"] == ["lead_id"] for k in keys)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite" or _has_key():
        return
    op.execute("UPDATE teams SET lead_id = NULL WHERE lead_id NOT IN (SELECT id FROM operators)")
    op.create_foreign_key(NAME, "teams", "operators", ["lead_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite" and _has_key():
        op.drop_constraint(NAME, "teams", type_="foreignkey")
