"""Read/update views of the routing tables (`call_attempts`, `call_reviews`, migration 0003).

Core `Table`s on a MetaData of their own, naming only the columns this package uses, so
they never clash with the ORM models in `callrouting/store.py` that own these tables.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, Integer, MetaData, String, Table, Text

routing_metadata = MetaData()

call_attempts = Table(
    "call_attempts",
    routing_metadata,
    Column("id", Integer, primary_key=True),
    Column("call_id", Integer, nullable=False),
    Column("step_index", Integer),
    Column("reason", String(60)),
    Column("targets", JSON),  # extensions (or the queue name) rung
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("duration", Float),
    Column("outcome", String(40)),
    Column("answered_by_id", Integer),
)

call_reviews = Table(
    "call_reviews",
    routing_metadata,
    Column("id", Integer, primary_key=True),
    Column("call_id", Integer, nullable=False, unique=True),
    Column("reason", String(40)),
    Column("flagged_at", DateTime(timezone=True)),
    Column("status", String(20), server_default="open"),
    Column("reviewer", String(200)),
    Column("notes", Text),
    Column("reviewed_at", DateTime(timezone=True)),
)

REVIEW_STATUSES = ("open", "in_review", "done")
