"""Alembic environment: runs migrations over the service's async engine."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from hotline.db.base import Base, make_engine

config = context.config
# The migration scripts name their tables themselves; the metadata only matters to
# autogenerate, which needs every owner module imported first: hotline.app.tables imports
# them (the ground never imports the features), and tests/component/test_app_tables.py
# compares that metadata with the migrated schema in every `make test`.
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table (copy, DROP, rename); with foreign keys on, SQLite's
        # DROP TABLE first deletes every row, and ON DELETE CASCADE takes the rows of the
        # tables that refer to it (a rebuilt `calls` would empty call_events, ratings, ...).
        # Off for the migration (it must come before the first write opens the transaction),
        # checked at the end; make_engine turns it on for every new connection.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:10]}")


async def _online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
