"""the pool queue on the call record (joined, wait) and callbacks (asked by a waiting caller or
started by a team lead: click-to-call)

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("queue_joined_at", TS, nullable=True))
        batch.add_column(sa.Column("queue_wait_ms", sa.Integer(), nullable=True))
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.Integer(), sa.ForeignKey("calls.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("queue", sa.String(80), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("queue_joined_at", TS, nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("operator_rang_at", TS, nullable=True),
        sa.Column("placed_at", TS, nullable=True),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("answered_by_id", sa.Integer(),
                  sa.ForeignKey("operators.id", ondelete="SET NULL"), nullable=True),
        sa.Column("requested_by", sa.String(200), nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
    )
    op.create_index("ix_callbacks_call_id", "callbacks", ["call_id"])
    op.create_index("ix_callbacks_requested_at", "callbacks", ["requested_at"])
    op.create_index("ix_callbacks_state", "callbacks", ["state"])


def downgrade() -> None:
    op.drop_table("callbacks")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("queue_wait_ms")
        batch.drop_column("queue_joined_at")
