"""hotline.app.tables: the owner modules together declare exactly the schema the migrations make.

Every table has one owner module; this is the check that the owners and the migrations agree
(it is what `alembic revision --autogenerate` would compare, with all owners imported).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hotline.app import tables
from hotline.db import migrate
from hotline.db.base import make_engine
from tests.support.databases import DbBackend

pytestmark = pytest.mark.component


async def test_owner_modules_match_the_migrated_schema(tmp_path: Path, db_backend: DbBackend) -> None:
    async with db_backend.empty(tmp_path, "schema") as url:
        await migrate.upgrade(url)
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                diff = await conn.run_sync(
                    lambda c: compare_metadata(MigrationContext.configure(c), tables.metadata))
        finally:
            await engine.dispose()
    assert diff == []
