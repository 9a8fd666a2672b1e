"""Closes, from Asterisk's own call records, what the service could not follow itself.

A crash (kill -9), a drain that ran out of grace or a frozen service leaves three kinds of
holes: call rows without an end, routing attempts without an end, and calls Asterisk's
fallback put into the operator pool with no row at all. Asterisk wrote a CDR for each
(`hotline.pbx.cdr`), so on start, and then every `service.reconcile_interval`, the service:

- closes every open call row whose channel is no longer up in Asterisk (asked over AMI:
  CoreShowChannels; without AMI nothing is closed, since a live call cannot be told from a
  finished one): `transferred` (an operator talked with the caller after the service routed
  the call), `fallback_answered` (the caller reached an operator through Asterisk's
  fallback), `abandoned` (the caller hung up before any operator answered), or
  `ended_unknown` (no CDR of the call exists, e.g. a rotated file);
- closes its open attempts: `answered` by the operator the CDR names, `no_answer`/`busy`
  from the CDR of that ring, else `ended_unknown`;
- records each hotline call found only in the CDRs (the fallback took it) as a new row,
  with the operator who answered it.

Each closed row gets a "(reconciled)" path step saying what the CDR showed. Rows of calls
this process is still serving are never touched: their channel is up.

Its writes go through the service's write queue (`hotline.db.writes`), in order with the calls'
own writes and with their retries; a write the queue gives up on leaves the call for the next
pass (its CDRs are kept).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callrouting.tables import CallAttemptRow
from directory.tables import OperatorRow
from hotline.clock import aware as _aware
from hotline.clock import utcnow
from hotline.db.calls import CallEventRow, CallRow
from hotline.db.writes import WriteLost, WriteQueue
from hotline.pbx.ami import AmiClient, AmiError
from hotline.pbx.cdr import FALLBACK, Cdr, CdrLog
from hotline.phone import normalize_number

log = structlog.get_logger("hotline.app.reconcile")

# A call with no CDR yet may just have ended (CDRs are written as the channel goes): only
# rows older than this are called `ended_unknown`.
NO_CDR_AFTER = timedelta(minutes=5)
# CDR groups kept for calls not (yet) resolved, e.g. a fallback call whose channel is up
KEEP_GROUPS_FOR = timedelta(hours=6)

LiveChannels = Callable[[], Awaitable[set[str] | None]]
Job = Callable[[AsyncSession], Awaitable[Any]]


@dataclass
class ReconcileReport:
    closed: dict[str, int] = field(default_factory=dict)  # outcome -> call rows closed
    attempts_closed: int = 0
    fallback_recorded: int = 0
    skipped_live: int = 0  # open rows whose channel is still up
    ran: bool = True  # False: AMI could not say which channels are up

    @property
    def calls_closed(self) -> int:
        return sum(self.closed.values())


async def ami_live_channels(ami: AmiClient) -> set[str] | None:
    """Uniqueids of the channels up in Asterisk now; None if AMI cannot tell."""
    if not ami.connected:
        return None
    try:
        events = await ami.action_list({"Action": "CoreShowChannels"}, "CoreShowChannelsComplete")
    except AmiError as exc:
        log.warning("reconcile.channels_unknown", error=str(exc))
        return None
    return {e.get("Uniqueid", "") for e in events if e.get("Event") == "CoreShowChannel"}


class Reconciler:
    def __init__(self, sm: async_sessionmaker[AsyncSession], cdr: CdrLog, live: LiveChannels,
                 *, country: str = "RU", clock: Callable[[], datetime] = utcnow,
                 writes: WriteQueue | None = None, node: str | None = None):
        self.sm, self.cdr, self.live, self.country, self.clock = sm, cdr, live, country, clock
        self.writes = writes  # None: each write in a transaction of its own (tools, tests)
        # this node's calls only (calls.node): in a cluster the other nodes' open calls are
        # theirs to close, from their own Asterisk's records
        self.node = node
        self.groups: dict[str, list[Cdr]] = {}  # uniqueid -> its CDRs (unresolved calls)
        self.total = ReconcileReport()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # ---- running

    def start(self, interval: float) -> None:
        self._task = asyncio.create_task(self._loop(interval), name="reconcile")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self, interval: float) -> None:
        while True:  # the service ran the first pass itself, before serving
            await asyncio.sleep(interval)
            try:
                await self.run_once()
            except Exception:
                log.exception("reconcile.failed")

    async def run_once(self) -> ReconcileReport:
        async with self._lock:
            return await self._pass()

    # ---- one pass

    async def _pass(self) -> ReconcileReport:
        report = ReconcileReport()
        for rec in self.cdr.read_new():
            self.groups.setdefault(rec.uniqueid, []).append(rec)
        live = await self.live()
        if live is None:
            report.ran = False
            log.info("reconcile.deferred", reason="AMI cannot say which channels are up",
                     cdr_groups=len(self.groups))
            return report
        now = self.clock()
        operators = await self._operators()
        async with self.sm() as s:
            mine = (CallRow.node == self.node) | CallRow.node.is_(None) if self.node else true()
            open_rows = (await s.scalars(select(CallRow).where(CallRow.ended_at.is_(None), mine)
                                         .order_by(CallRow.id))).all()
            known = set((await s.scalars(select(CallRow.uniqueid).where(
                CallRow.uniqueid.in_(list(self.groups))))).all()) if self.groups else set()
        for row in open_rows:
            if row.uniqueid in live:
                report.skipped_live += 1
                continue
            cdrs = self.groups.get(row.uniqueid, [])
            if not cdrs and now - _aware(row.started_at) < NO_CDR_AFTER:
                continue  # its CDR may not be written yet
            if await self._close(row, cdrs, operators, now, report):
                self.groups.pop(row.uniqueid, None)
        open_ids = {r.uniqueid for r in open_rows}
        for uniqueid, cdrs in list(self.groups.items()):
            if uniqueid in known and uniqueid not in open_ids:
                del self.groups[uniqueid]  # the service stored and finished this call itself
            elif uniqueid in live:
                continue
            elif uniqueid not in known:
                if any(c.hotline == FALLBACK for c in cdrs):
                    if await self._record_fallback(cdrs, operators, now):
                        report.fallback_recorded += 1
                        del self.groups[uniqueid]
                elif not any(c.hotline for c in cdrs) or _ended(cdrs) < now - KEEP_GROUPS_FOR:
                    del self.groups[uniqueid]  # not a hotline call, or an old one never stored
        report.attempts_closed = await self._close_orphan_attempts(operators, now)
        self._add(report)
        if report.calls_closed or report.fallback_recorded or report.attempts_closed:
            log.info("reconcile.done", closed=report.closed, attempts=report.attempts_closed,
                     fallback_recorded=report.fallback_recorded, still_up=report.skipped_live)
        return report

    async def _store(self, job: Job, what: str, data: dict[str, Any]) -> tuple[bool, Any]:
        """Run a write job (through the write queue when there is one): (stored, its result)."""
        if self.writes is None:
            async with self.sm() as s, s.begin():
                return True, await job(s)
        try:
            return True, await self.writes.submit(job, what=what, data=data)
        except WriteLost:  # the queue logged it; the next pass tries again
            return False, None

    def _add(self, r: ReconcileReport) -> None:
        for k, v in r.closed.items():
            self.total.closed[k] = self.total.closed.get(k, 0) + v
        self.total.attempts_closed += r.attempts_closed
        self.total.fallback_recorded += r.fallback_recorded

    async def _operators(self) -> dict[str, tuple[int, str]]:
        async with self.sm() as s:
            rows = (await s.execute(select(OperatorRow.extension, OperatorRow.id,
                                           OperatorRow.name))).all()
        return {ext: (oid, name) for ext, oid, name in rows}

    async def _close(self, row: CallRow, cdrs: list[Cdr], operators: dict[str, tuple[int, str]],
                     now: datetime, report: ReconcileReport) -> bool:
        talked = [c for c in cdrs if c.talked]
        op = _operator(talked, operators)
        if not cdrs:
            outcome, ended, detail = "ended_unknown", now, "no CDR of this call: how it ended is unknown"
        elif talked:
            outcome = "fallback_answered" if any(c.hotline == FALLBACK for c in talked) else "transferred"
            ended = _ended(cdrs)
            detail = f"CDR: answered by {_who(talked[0], operators)}, talked {sum(c.billsec for c in talked)} s"
        else:
            outcome, ended = "abandoned", _ended(cdrs)
            detail = "CDR: the caller hung up before any operator answered"
        values: dict[str, Any] = {"ended_at": ended, "outcome": outcome,
                                  "path": [*(row.path or []), _step(now, detail)]}
        if op is not None and row.answered_by_id is None:
            values["answered_by_id"] = op[0]
            values["answered_at"] = _answered_at(talked[0])

        async def job(s: AsyncSession) -> None:
            res = await s.execute(update(CallRow).where(CallRow.id == row.id,
                                                        CallRow.ended_at.is_(None)).values(**values))
            if res.rowcount:  # type: ignore[attr-defined]
                s.add(CallEventRow(call_id=row.id, at=ended, kind="call_ended",
                                   data={"outcome": outcome, "reconciled": True, "detail": detail}))
                await self._close_attempts(s, row.id, cdrs, operators, ended)

        stored, _ = await self._store(job, "reconcile_close", {
            "call": row.uniqueid, "outcome": outcome, "ended_at": ended.isoformat(), "detail": detail})
        if stored:
            report.closed[outcome] = report.closed.get(outcome, 0) + 1
        return stored

    async def _close_attempts(self, s: AsyncSession, call_id: int, cdrs: list[Cdr],
                              operators: dict[str, tuple[int, str]], fallback_end: datetime) -> int:
        attempts = (await s.scalars(select(CallAttemptRow).where(
            CallAttemptRow.call_id == call_id, CallAttemptRow.ended_at.is_(None)))).all()
        for a in attempts:
            started = _aware(a.started_at)
            mine = [c for c in cdrs if c.peer_extension in set(a.targets or [])
                    and c.end is not None and c.end >= started]
            if not mine and a.targets and a.reason == "pool":
                mine = [c for c in cdrs if c.lastapp == "Queue" and c.end and c.end >= started]
            answered = [c for c in mine if c.disposition == "ANSWERED" and c.peer_extension]
            if answered:
                outcome, end = "answered", max(c.end for c in answered if c.end)
                who = operators.get(answered[0].peer_extension or "")
            elif mine:
                outcome = {"BUSY": "busy", "NO ANSWER": "no_answer"}.get(mine[0].disposition, "failed")
                end, who = max(c.end for c in mine if c.end), None
            else:
                outcome, end, who = "ended_unknown", fallback_end, None
            a.ended_at, a.outcome = end, outcome
            a.duration = round((end - started).total_seconds(), 3)
            a.answered_by_id = who[0] if who else None
        return len(attempts)

    async def _close_orphan_attempts(self, operators: dict[str, tuple[int, str]],
                                     now: datetime) -> int:
        """Attempts left open on calls that did end (the session died between the two writes)."""

        async def job(s: AsyncSession) -> int:
            ids = (await s.scalars(select(CallAttemptRow.call_id).join(
                CallRow, CallRow.id == CallAttemptRow.call_id).where(
                CallAttemptRow.ended_at.is_(None), CallRow.ended_at.is_not(None)))).all()
            n = 0
            for call_id in set(ids):
                row = await s.get(CallRow, call_id)
                assert row is not None
                n += await self._close_attempts(s, call_id, self.groups.get(row.uniqueid, []),
                                                operators, _aware(row.ended_at or now))
            return n

        stored, n = await self._store(job, "reconcile_attempts", {})
        return int(n) if stored else 0

    async def _record_fallback(self, cdrs: list[Cdr], operators: dict[str, tuple[int, str]],
                               now: datetime) -> bool:
        first = min(cdrs, key=lambda c: c.start or now)
        talked = [c for c in cdrs if c.talked]
        op = _operator(talked, operators)
        outcome = "fallback_answered" if talked else "abandoned"
        detail = ("CDR: Asterisk's fallback put the caller into the operator pool (the service "
                  "did not serve the call); " + (f"answered by {_who(talked[0], operators)}"
                                                 if talked else "no operator answered"))
        started = first.start or now
        ended = _ended(cdrs)

        async def job(s: AsyncSession) -> None:
            row = CallRow(
                uniqueid=first.uniqueid, linkedid=first.linkedid or None, channel=first.channel,
                caller_id_raw=first.src or None, caller_number=normalize_number(first.src or None, self.country),
                started_at=started, ended_at=ended, outcome=outcome,
                answered_by_id=op[0] if op else None,
                answered_at=_answered_at(talked[0]) if talked else None,
                path=[_step(now, detail)], node=self.node,
            )
            s.add(row)
            await s.flush()
            s.add(CallEventRow(call_id=row.id, at=started, kind="call_started",
                               data={"caller_id": first.src, "reconciled": True}))
            s.add(CallEventRow(call_id=row.id, at=ended, kind="call_ended",
                               data={"outcome": outcome, "reconciled": True, "detail": detail}))

        stored, _ = await self._store(job, "reconcile_fallback", {
            "call": first.uniqueid, "outcome": outcome, "started_at": started.isoformat(),
            "ended_at": ended.isoformat(), "detail": detail})
        return stored


def _ended(cdrs: Iterable[Cdr]) -> datetime:
    ends = [c.end for c in cdrs if c.end is not None]
    return max(ends) if ends else utcnow()


def _operator(talked: list[Cdr], operators: dict[str, tuple[int, str]]) -> tuple[int, str] | None:
    for c in talked:
        if c.peer_extension in operators:
            return operators[c.peer_extension]
    return None


def _who(c: Cdr, operators: dict[str, tuple[int, str]]) -> str:
    ext = c.peer_extension or c.dstchannel
    op = operators.get(ext or "")
    return f"{ext} ({op[1]})" if op else str(ext)


def _answered_at(c: Cdr) -> datetime | None:
    times = [t for t in (c.answer, c.start) if t is not None]
    return max(times) if times else None


def _step(now: datetime, detail: str) -> dict[str, Any]:
    return {"node": "(reconciled)", "at": now.isoformat(), "detail": detail}
