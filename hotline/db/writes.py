"""The one write path: a write-behind queue that never drops a write and never blocks a call.

    submit(job) -> Future        the caller goes on at once (or awaits the future if it needs
                                 the result: a new row's id, "stored")
    one writer task              runs the jobs in submission order, a batch in one transaction
    transient error              (SQLite busy/locked, PostgreSQL connection lost, serialization
                                 failure, deadlock): the batch is rolled back and retried with
                                 backoff, for up to `retry_for` seconds
    permanent error              (a constraint violation, a bug): the batch is rolled back and
                                 its jobs run one by one, so only the bad one is given up; it is
                                 logged as an error with its data, never retried

Why one writer: SQLite takes one writer at a time, and under 150-250 IVR callers the
concurrent transactions of the old per-call write-behind queued on SQLite's lock (p95 up to
6 s) and some gave up with "database is locked" after the busy timeout. One writer that
commits what has piled up in one short transaction does not contend with itself, and is as
good for PostgreSQL (fewer round trips and commits).

A job is `async (session) -> result` and must be safe to run again from the start: after a
rollback it is run again in a new transaction. Jobs that need a row an earlier job inserts
(an event of a call whose row is still queued) take a `RowRef`: the inserting job fills in
`ref.id`, and since jobs run in order, the later job finds it set.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from sqlalchemy import bindparam, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.metrics import Metrics

log = structlog.get_logger("hotline.db.writes")

T = TypeVar("T")
Job = Callable[[AsyncSession], Awaitable[Any]]

# SQLite result codes (primary code = extended & 0xff) that pass: another connection holds
# the lock, or the file could not be opened/read for a moment
_SQLITE_TRANSIENT = {5: "SQLITE_BUSY", 6: "SQLITE_LOCKED", 10: "SQLITE_IOERR",
                     14: "SQLITE_CANTOPEN", 15: "SQLITE_PROTOCOL"}
# PostgreSQL SQLSTATEs worth retrying: whole class 08 (connection exception) plus these
_PG_TRANSIENT = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "57014"}


class WriteLost(Exception):
    """A write was given up (permanent error, or still failing after `retry_for`)."""


class MissingRow(Exception):
    """A job referred to a row that an earlier (given up) job never inserted."""


@dataclass(eq=False)
class RowRef:
    """A row another queued job inserts: `id` is set once that job has run."""

    what: str = "row"
    id: int | None = None
    stored: asyncio.Future[Any] | None = field(default=None, repr=False)  # the insert's write

    def require(self) -> int:
        if self.id is None:
            raise MissingRow(f"{self.what} was never stored")
        return self.id

    def __await__(self) -> Any:
        """`await ref`: the id once the inserting write has committed."""
        return self._stored().__await__()

    async def _stored(self) -> int:
        if self.stored is not None:
            await self.stored
        return self.require()


def ref_id(ref: int | RowRef | None) -> int | None:
    """The id of an int or a RowRef (None stays None); raises MissingRow for an unset ref."""
    if ref is None or isinstance(ref, int):
        return ref
    return ref.require()


_LATER = "hotline.db.writes.later"


def update_later(s: AsyncSession, model: Any, pk: int, values: dict[str, Any]) -> None:
    """An unconditional UPDATE of one row, sent just before the batch commits, merged with the
    batch's other ones for that row and sent with those of the other rows in one statement
    (executemany): a batch of 200 writes makes a handful of round trips to the database,
    not 200, which matters when the event loop is busy with hundreds of calls. Only for
    columns no job reads (a call's path, outcome, end); a later value wins, as in order."""
    rows = s.info.setdefault(_LATER, {}).setdefault(model, {})
    rows.setdefault(pk, {}).update(values)


async def _send_later(s: AsyncSession) -> None:
    for model, rows in s.info.pop(_LATER, {}).items():
        table = model.__table__
        (pk,) = table.primary_key.columns
        groups: dict[frozenset[str], list[dict[str, Any]]] = {}
        for row_id, values in rows.items():
            groups.setdefault(frozenset(values), []).append(
                {"_pk": row_id, **{f"_{k}": v for k, v in values.items()}})
        for names, params in groups.items():
            stmt = (update(table).where(pk == bindparam("_pk"))
                    .values({n: bindparam(f"_{n}") for n in names}))
            await s.execute(stmt, params)  # one executemany for the rows of this shape


def known_id(ref: int | RowRef | None) -> int | None:
    """The id if it is known now (a RowRef whose row is still queued gives None)."""
    return ref.id if isinstance(ref, RowRef) else ref


def transient(error: BaseException) -> str | None:
    """Why a failed write is worth retrying, or None when it is not (a bug, a constraint).

    Classified by the driver's own codes, for sqlite3/aiosqlite and asyncpg alike."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return "connection lost"
    if isinstance(error, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return type(error).__name__  # pool checkout failed / timed out
    orig = getattr(error, "orig", None) or error
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _SQLITE_TRANSIENT:
        return _SQLITE_TRANSIENT[code & 0xFF]
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str) and (state.startswith("08") or state in _PG_TRANSIENT):
        return f"SQLSTATE {state}"
    if isinstance(error, sa_exc.IntegrityError | sa_exc.DataError | sa_exc.ProgrammingError):
        return None
    if isinstance(orig, ConnectionError | TimeoutError) or type(orig).__name__ in (
            "ConnectionDoesNotExistError", "InterfaceError", "CannotConnectNowError"):
        return type(orig).__name__  # the server went away between statements
    if isinstance(error, OSError):  # could not connect at all (refused, reset)
        return type(error).__name__
    return None


@dataclass(eq=False)
class _Entry:
    job: Job
    what: str
    data: dict[str, Any]
    future: asyncio.Future[Any]
    submitted: float
    key: Hashable | None = None


@dataclass
class WriteStats:
    """What the queue did (for the benchmark and metrics): latency is submit -> commit."""

    committed: int = 0
    lost: int = 0  # given up
    retries: int = 0  # batch attempts that failed transiently
    transactions: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    transaction_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    batch_max: int = 0
    failures: deque[str] = field(default_factory=lambda: deque(maxlen=1000))  # transient causes

    def reset(self) -> None:
        self.committed = self.lost = self.retries = self.transactions = self.batch_max = 0
        self.latencies_ms.clear()
        self.transaction_ms.clear()
        self.failures.clear()


class WriteQueue:
    """Write-behind for every database write of a call (one per service).

    `warn_depth`: a warning each time the backlog grows past another multiple of it.
    `max_depth`: beyond it a submission is refused (logged as an error with its data) instead
    of growing memory without end; the backlog only reaches it when the database has been
    unavailable for a long time."""

    def __init__(self, sm: async_sessionmaker[AsyncSession], *, batch: int = 200,
                 retry_for: float = 600.0, first_delay: float = 0.05, max_delay: float = 2.0,
                 warn_depth: int = 1000, max_depth: int = 200_000, slow_s: float = 1.0,
                 metrics: Metrics | None = None):
        self.sm = sm
        # hotline_db_write_seconds{op} (queued -> committed), _failures{op} (in a failed
        # attempt: retried or given up), hotline_db_writes_lost{op}, and the queue's depth
        self.metrics = metrics or Metrics()
        self.metrics.write_behind_depth.set_function(lambda: len(self._queue))
        self.batch, self.retry_for = batch, retry_for
        self.first_delay, self.max_delay = first_delay, max_delay
        self.warn_depth, self.max_depth = warn_depth, max_depth
        self.slow_s = slow_s  # a transaction slower than this is logged with its phases
        self.stats = WriteStats()
        self._queue: deque[_Entry] = deque()
        self._pending: dict[Hashable, _Entry] = {}
        self._task: asyncio.Task[None] | None = None
        self._warned = 0

    @property
    def depth(self) -> int:
        return len(self._queue)

    def submit(self, job: Job, *, what: str, data: dict[str, Any] | None = None,
               key: Hashable | None = None) -> asyncio.Future[Any]:
        """Queue a write; returns a future of the job's result (never raises here).

        `key`: a job still waiting with the same key is not queued again (its future is
        returned); use it for writes that store the newest state when they run (a call's
        path). `data` is what gets logged if the write is lost."""
        loop = asyncio.get_running_loop()
        if key is not None and key in self._pending:
            return self._pending[key].future
        fut: asyncio.Future[Any] = loop.create_future()
        fut.add_done_callback(_consume)
        if len(self._queue) >= self.max_depth:
            self.stats.lost += 1
            self.metrics.db_writes_lost.labels(_op(what)).inc()
            log.error("db.write_refused", what=what, data=data, depth=len(self._queue),
                      reason="write-behind queue full (the database has not taken writes)")
            fut.set_exception(WriteLost(f"{what}: write-behind queue full"))
            return fut
        entry = _Entry(job, what, data or {}, fut, time.monotonic(), key)
        self._queue.append(entry)
        if key is not None:
            self._pending[key] = entry
        depth = len(self._queue)
        if depth >= self.warn_depth * (self._warned + 1):
            self._warned = depth // self.warn_depth
            log.warning("db.write_backlog", depth=depth, oldest_s=round(
                time.monotonic() - self._queue[0].submitted, 1))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="db-write-behind")
        return fut

    async def flush(self) -> None:
        """Wait until everything submitted so far is stored or given up."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self, timeout: float | None = None) -> None:
        """Flush (at most `timeout` seconds); what is still queued then is logged as lost."""
        try:
            async with asyncio.timeout(timeout):
                await self.flush()
        except TimeoutError:
            task = self._task
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            left = list(self._queue)
            self._queue.clear()
            self._pending.clear()
            for e in left:
                self._lose(e, "service stopped before the database took it")

    # -- the writer

    async def _run(self) -> None:
        while self._queue:
            n = min(self.batch, len(self._queue))
            entries = [self._queue[i] for i in range(n)]
            for e in entries:  # from now on a new write with its key is queued anew
                if e.key is not None and self._pending.get(e.key) is e:
                    del self._pending[e.key]
            await self._write(entries)
            for _ in range(n):
                self._queue.popleft()
            if len(self._queue) < self.warn_depth * self._warned:
                self._warned = len(self._queue) // self.warn_depth

    async def _write(self, entries: list[_Entry]) -> None:
        """One batch: all in one transaction; a permanent error isolates the bad job."""
        first_failure: float | None = None
        delay = self.first_delay
        while True:
            t0 = time.monotonic()
            try:
                results, marks = await self._transaction(entries)
            except Exception as error:
                why = transient(error)
                now = time.monotonic()
                if why is None:
                    if len(entries) > 1:
                        for e in entries:  # one by one: only the bad one is given up
                            await self._write([e])
                        return
                    self._lose(entries[0], "permanent error", error)
                    return
                first_failure = first_failure or now
                for e in entries:
                    self.metrics.db_write_failures.labels(_op(e.what)).inc()
                self.stats.retries += 1
                self.stats.failures.append(why)
                if now - first_failure > self.retry_for:
                    for e in entries:
                        self._lose(e, f"still failing after {self.retry_for:.0f} s ({why})", error)
                    return
                log.warning("db.write_retry", reason=why, error=str(error)[:300],
                            jobs=len(entries), depth=len(self._queue),
                            failing_for_s=round(now - first_failure, 1),
                            retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
                continue
            now = time.monotonic()
            self._log_slow(len(entries), marks)
            self.stats.transactions += 1
            self.stats.transaction_ms.append((now - t0) * 1000)
            self.stats.batch_max = max(self.stats.batch_max, len(entries))
            for e, result in zip(entries, results, strict=True):
                self.stats.committed += 1
                self.stats.latencies_ms.append((now - e.submitted) * 1000)
                self.metrics.db_write.labels(_op(e.what)).observe(now - e.submitted)
                if not e.future.done():
                    e.future.set_result(result)
            if first_failure is not None:
                log.info("db.write_recovered", jobs=len(entries),
                         failed_for_s=round(now - first_failure, 1))
            return

    async def _transaction(self, entries: list[_Entry]) -> tuple[list[Any], list[float]]:
        """Run the jobs in one transaction; returns their results and when each phase ended.
        Nothing after the commit may raise here: the batch would be run again."""
        marks = [time.monotonic()]
        async with self.sm() as s:
            async with s.begin():
                await s.connection()  # checked out, transaction begun
                marks.append(time.monotonic())
                out = [await e.job(s) for e in entries]
                marks.append(time.monotonic())
                await _send_later(s)
                await s.flush()
                marks.append(time.monotonic())
            marks.append(time.monotonic())  # committed
        return out, marks

    def _log_slow(self, jobs: int, marks: list[float]) -> None:
        if marks[-1] - marks[0] <= self.slow_s:
            return
        phases = ("begin", "jobs", "updates", "commit")
        log.warning("db.write_slow", jobs=jobs, depth=len(self._queue),
                    **{f"{name}_ms": round((b - a) * 1000, 1)
                       for name, a, b in zip(phases, marks, marks[1:], strict=False)})

    def _lose(self, e: _Entry, reason: str, error: BaseException | None = None) -> None:
        self.stats.lost += 1
        self.metrics.db_writes_lost.labels(_op(e.what)).inc()
        log.error("db.write_lost", what=e.what, data=e.data, reason=reason,
                  error=repr(error)[:500] if error is not None else None)
        if not e.future.done():
            e.future.set_exception(WriteLost(f"{e.what}: {reason}"))


def _op(what: str) -> str:
    """The metric label of a write: its kind without details ("call_event ivr.step" -> call_event)."""
    return what.split(" ", 1)[0]


def _consume(fut: asyncio.Future[Any]) -> None:
    """Nobody has to await a write: its failure is logged by the queue, not by asyncio."""
    if not fut.cancelled():
        fut.exception()
