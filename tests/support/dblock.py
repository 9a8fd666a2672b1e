"""Hold the database's write lock from another process, the way a stuck job or a backup would.

    async with locked_database(url):   # writes from the service fail or wait meanwhile
        ...

SQLite: `BEGIN EXCLUSIVE` on the file (with WAL, readers go on; every writer gets
SQLITE_BUSY once its busy timeout runs out). PostgreSQL: `LOCK TABLE ... IN EXCLUSIVE MODE`
on the call tables (SELECTs go on; writes wait). Run alone:
`python -m tests.support.dblock URL SECONDS` prints "locked" once it holds the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import time
from collections.abc import AsyncIterator

from sqlalchemy.engine import make_url

PG_TABLES = "calls, call_events, call_attempts, call_reviews, recordings, ratings"


def _hold_sqlite(path: str, seconds: float) -> None:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()


async def _hold_postgres(url: str, seconds: float) -> None:
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(host=u.host, port=u.port, user=u.username, password=u.password,
                                 database=u.database)
    try:
        async with conn.transaction():
            await conn.execute(f"LOCK TABLE {PG_TABLES} IN EXCLUSIVE MODE")
            print("locked", flush=True)
            await asyncio.sleep(seconds)
    finally:
        await conn.close()


def hold(url: str, seconds: float) -> None:
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        assert u.database, "an in-memory SQLite database cannot be locked from outside"
        _hold_sqlite(u.database, seconds)
    else:
        asyncio.run(_hold_postgres(url, seconds))


@contextlib.asynccontextmanager
async def locked_database(url: str, seconds: float = 3600) -> AsyncIterator[None]:
    """The lock is held by a child process from entry (it is held when this yields) until
    exit, or `seconds` at most."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.dblock", url, str(seconds),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if line.strip() != b"locked":
            err = (await proc.stderr.read()).decode() if proc.stderr else ""
            raise RuntimeError(f"could not lock {url}: {line!r} {err}")
        yield
    finally:
        if proc.returncode is None:
            proc.terminate()  # the lock goes with the process (SQLite and PostgreSQL alike)
        await proc.wait()


if __name__ == "__main__":
    hold(sys.argv[1], float(sys.argv[2]))
