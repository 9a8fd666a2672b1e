"""Callbacks and click-to-call on the running service (docs/decisions/0008).

One `CallbackDesk` per service.  It owns the `callbacks` table:

* a caller waiting in the pool confirms a callback (`callrouting.callback_offer`): the desk
  takes them out of Queue() (`withdraw`) and stores the request (`requested`) with the
  caller's priority and queue join time;
* its dispatcher places due requests (retry time passed, business hours open): a Local
  channel on the control socket (`hotline.pbx.originate`) whose first half, served here as
  the *operator leg*, joins the pool queue at the request's place (`callbacks.queue_place`
  over the callers still waiting) with the caller's priority - Asterisk rings the next free
  operator for it exactly as for a caller on the line, with the caller name
  "Callback: VIP Maria Ivanova - ticket check, waited 6 min"; a known caller's personal
  manager (and the rest of the caller's routing) comes first, as on an incoming call;
* once an operator answers, the other half, the *caller leg*, dials the caller
  (Dial(PJSIP/<number>@hotline-callers)) and Asterisk bridges them; no answer: another try
  after `retry_after` s, up to `attempts`, then `failed` (reason `callback_failed: ...`);
* click-to-call (`click_to_call`): the same two legs at once, the operator leg ringing the
  requesting team lead's own phone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callrouting.callbacks import (
    OpeningHours,
    Request,
    Waiter,
    after_failed_try,
    callback_display,
    due,
    queue_place,
    valid_number,
)
from callrouting.executor import RoutingExecutor, extension_of_channel, presence_by_operator
from callrouting.policy import (
    CallContext,
    RingPlan,
    RingStep,
    RingTarget,
    StepKind,
    plan_call,
)
from callrouting.router import INTENT_TOPICS
from callrouting.tables import CallbackRow
from callrouting.waiting import Waiting
from hotline.clock import utcnow
from hotline.db.calls import CallEventRow, CallRow
from hotline.db.writes import RowRef, transient
from hotline.pbx.agi import AgiChannel, AgiError, AgiHangup
from hotline.pbx.originate import CALLER_CONTEXT, OPERATOR_CONTEXT

if TYPE_CHECKING:
    from callrouting.router import CallRouter
    from hotline.pbx.ami import AmiClient
    from hotline.pbx.originate import Originator

log = structlog.get_logger("callrouting.callback_desk")

CALLERS_ENDPOINT = "hotline-callers"
MAX_LEGS = 50  # callbacks in the queue or on the phone at once
LEG_ARRIVAL_S = 15.0  # the operator leg's FastAGI session comes within this after originate
ACTIVE_STATES = ("ringing_operator", "dialling_caller")
LOST_RETRY_S = 30.0


@dataclass(frozen=True)
class CallbackConfig:
    """From the active dialplan's `queue.callback` (defaults without one)."""

    attempts: int = 3
    retry_after_s: float = 120.0
    ring_caller_s: int = 30
    hours: OpeningHours | None = None  # None: any time


@dataclass
class Leg:
    """One try of one callback: its two FastAGI sessions meet here."""

    id: int
    kind: str
    number: str
    started: float = field(default_factory=time.monotonic)  # originate sent
    operator_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    operator_answered: asyncio.Event = field(default_factory=asyncio.Event)
    operator_done: asyncio.Event = field(default_factory=asyncio.Event)
    operator_channel: str = ""
    operator_uniqueid: str = ""
    answered_extension: str | None = None
    joined_queue: float | None = None  # monotonic: Queue() sent
    rang_at: float | None = None  # monotonic: the first operator phone rang (AMI)
    rang_extension: str | None = None
    caller_arrived: bool = False
    operator_done_at: float | None = None


class CallbackDesk:
    def __init__(self, sm: async_sessionmaker[AsyncSession], router: CallRouter,
                 ami: Callable[[], AmiClient | None], originator: Originator, *,
                 pool_queue: str, enabled: bool = True,
                 config: Callable[[], CallbackConfig] = CallbackConfig,
                 clock: Callable[[], datetime] = utcnow, poll_s: float = 1.0):
        self.sm, self.router, self._ami, self.originator = sm, router, ami, originator
        self.pool_queue = pool_queue
        self.enabled = enabled  # a trunk to the callers is configured (callback_contact)
        self.config, self.clock, self.poll_s = config, clock, poll_s
        self.legs: dict[int, Leg] = {}
        self.finished: list[Leg] = []  # recent tries, for tests and the benchmark
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._joined: dict[str, datetime] = {}  # operator leg uniqueid -> the request's place
        self._pending_updates: set[asyncio.Task[None]] = set()
        # callback id -> (queue, priority, caller's join): requests due and not answered by an
        # operator yet (the waiting room's `pending`, so callers hear them as ahead)
        self._due: dict[int, tuple[str, int, datetime]] = {}
        if enabled and router.waiting is not None:
            router.waiting.pending = self.pending_in

    # ---- life cycle

    async def start(self) -> None:
        """Tries cut off by a restart go back to pending; then the dispatcher runs."""
        async with self.sm() as s, s.begin():
            await s.execute(update(CallbackRow).where(CallbackRow.state.in_(ACTIVE_STATES))
                            .values(state="pending"))
        if self.enabled:
            self._task = asyncio.create_task(self._dispatch_loop(), name="callback-dispatcher")
        else:
            log.warning("callback.disabled", reason="asterisk.callback_contact is not set: "
                        "requests are stored and stay pending")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    # ---- from the caller in the queue (callrouting.callback_offer.CallbackIntake)

    async def withdraw(self, queue: str, channel: str) -> bool:
        ami = self._ami()
        if ami is None or not ami.connected:
            return False
        from hotline.pbx.ami import AmiError

        try:
            reply = await ami.action({"Action": "QueueWithdrawCaller", "Queue": queue,
                                      "Caller": channel, "WithdrawInfo": "callback"})
        except AmiError as exc:
            log.warning("callback.withdraw_failed", error=str(exc))
            return False
        return str(reply.get("Response", "")).lower() == "success"

    async def requested(self, *, call_id: Any, number: str, queue: str, priority: int,
                        joined_at: datetime, requested_at: datetime) -> int:
        if valid_number(number) is None:
            raise ValueError("not a number the service dials")
        cid = await call_id if isinstance(call_id, RowRef) else int(call_id)
        async with self.sm() as s, s.begin():
            row = CallbackRow(call_id=cid, kind="callback", number=number, queue=queue,
                              priority=priority, requested_at=requested_at,
                              queue_joined_at=joined_at, state="pending", attempts=0)
            s.add(row)
            s.add(CallEventRow(call_id=cid, at=requested_at, kind="callback.requested",
                               data={"queue": queue, "priority": priority}))
            await s.flush()
            rid = row.id
        hours = self.config().hours if self.enabled else None
        if self.enabled and (hours is None or hours.is_open(self.clock())):
            self._due[rid] = (queue, priority, _aware(joined_at))  # ahead of those behind it
        log.info("callback.requested", callback=rid, call_id=cid, priority=priority,
                 waited_s=round((requested_at - joined_at).total_seconds(), 1))
        self.wake()
        return rid

    # ---- click-to-call (the page's "call back" button)

    async def click_to_call(self, call_id: int, extension: str, requested_by: str) -> int:
        """Ring `extension` (the team lead's phone), then the caller of `call_id`.  Raises
        LookupError (no such call) or ValueError (no number to dial, no phone)."""
        async with self.sm() as s, s.begin():
            call = await s.get(CallRow, call_id)
            if call is None:
                raise LookupError("no such call")
            number = valid_number(call.caller_number)
            if number is None:
                raise ValueError("the call has no number that can be dialled")
            row = CallbackRow(call_id=call.id, kind="click_to_call", number=number, queue=None,
                              priority=0, requested_at=self.clock(), queue_joined_at=None,
                              state="pending", attempts=0, requested_by=requested_by[:200],
                              reason=f"extension {extension}")
            s.add(row)
            await s.flush()
            rid = row.id
        log.info("callback.click_to_call", callback=rid, call_id=call_id, extension=extension)
        if self.enabled:
            await self._place(rid, "click_to_call", number, extension=extension)
        return rid

    # ---- the dispatcher

    async def _dispatch_loop(self) -> None:
        while True:
            try:
                await self.dispatch_once()
            except Exception as error:
                why = transient(error)
                if why is None:
                    log.exception("callback.dispatch_failed")
                else:  # the database is away: the requests wait in it, tried again next round
                    log.warning("callback.dispatch_deferred", reason=why)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._wake.wait()

    async def dispatch_once(self) -> list[int]:
        """Place the due requests that are not placed yet; returns their ids."""
        self._drop_lost_legs()
        if len(self.legs) >= MAX_LEGS:
            return []
        cfg = self.config()
        now = self.clock()
        async with self.sm() as s:
            rows = (await s.scalars(select(CallbackRow).where(
                CallbackRow.state == "pending", CallbackRow.kind == "callback"))).all()
        reqs = [Request(r.id, r.priority, _aware(r.queue_joined_at or r.requested_at),
                        _aware(r.next_attempt_at) if r.next_attempt_at else None)
                for r in rows if r.id not in self.legs]
        hours = cfg.hours
        ready = due(reqs, now, hours.is_open if hours is not None else lambda _n: True)
        numbers = {r.id: r.number for r in rows}
        queues = {r.id: r.queue or self.pool_queue for r in rows}
        in_flight = {rid: self._due[rid] for rid, leg in self.legs.items()
                     if rid in self._due and not leg.operator_answered.is_set()}
        self._due = {r.id: (queues[r.id], r.priority, r.joined_at) for r in ready} | in_flight
        placed = []
        for req in ready[: MAX_LEGS - len(self.legs)]:
            if await self._place(req.id, "callback", numbers[req.id]):
                placed.append(req.id)
        return placed

    async def _place(self, rid: int, kind: str, number: str, extension: str | None = None) -> bool:
        leg = Leg(rid, kind, number)
        leg.rang_extension = extension  # click-to-call: whose phone rings
        self.legs[rid] = leg
        try:
            ok = await self.originator.start(rid)
        except Exception as exc:
            log.warning("callback.originate_failed", callback=rid, error=str(exc))
            ok = False
        if not ok:
            self.legs.pop(rid, None)
            return False
        log.info("callback.placed", callback=rid, kind=kind)
        return True

    def _drop_lost_legs(self) -> None:
        now = time.monotonic()
        for rid, leg in list(self.legs.items()):
            lost = (not leg.operator_arrived.is_set() and now - leg.started > LEG_ARRIVAL_S) or (
                not leg.caller_arrived and leg.operator_done_at is not None
                and now - leg.operator_done_at > LEG_ARRIVAL_S)
            if lost:  # Asterisk did not start it (or the caller half never came): later
                log.warning("callback.leg_lost", callback=rid, retry_in_s=LOST_RETRY_S)
                self.legs.pop(rid, None)
                task = asyncio.create_task(self._retry_lost(rid), name=f"callback-lost-{rid}")
                self._pending_updates.add(task)
                task.add_done_callback(self._pending_updates.discard)

    # ---- the two FastAGI sessions

    @staticmethod
    def serves(chan: AgiChannel) -> bool:
        return chan.env.get("agi_context") in (OPERATOR_CONTEXT, CALLER_CONTEXT)

    async def handle(self, chan: AgiChannel) -> None:
        ext = chan.env.get("agi_extension", "")
        leg = self.legs.get(int(ext)) if ext.isdigit() and len(ext) < 13 else None
        if leg is None:  # not placed by this service (or it restarted): nothing to do
            log.warning("callback.unknown_leg", extension=ext[:20])
            with contextlib.suppress(AgiError):
                await chan.hangup()
            return
        if chan.env.get("agi_context") == OPERATOR_CONTEXT:
            await self._operator_leg(chan, leg)
        else:
            await self._caller_leg(chan, leg)

    async def _operator_leg(self, chan: AgiChannel, leg: Leg) -> None:
        leg.operator_arrived.set()
        leg.operator_channel = chan.env.get("agi_channel", "")
        leg.operator_uniqueid = chan.uniqueid
        ami = self._ami()
        unsub: list[Callable[[], None]] = []
        try:
            async with self.sm() as s:
                row = await s.get(CallbackRow, leg.id)
                call = await s.get(CallRow, row.call_id) if row is not None else None
            if row is None or row.state != "pending":
                return
            await chan.answer()  # the caller leg starts now and waits for the operator
            if ami is not None:
                unsub = self._follow_rings(ami, leg)
            plan, directory, position = await self._plan(chan, leg, row, call)
            joined = _aware(row.queue_joined_at or row.requested_at)
            executor = RoutingExecutor(
                chan, plan, call_id=None, directory=directory, store=None,
                presence=self.router.presence, ami=ami, clock=self.clock,
                dial_options="g", queue_options="c", metrics=self.router.metrics,
                waiting=self.router.waiting, vip=row.priority > 0,
                pool_rule=self.router.pool_rule,
                overflow_extensions=self.router.overflow_extensions,
                queue_position=position,
                callback_place=None if leg.kind != "callback" else (leg.id, self._mono(joined)),
                on_answered=lambda ext, _at: self._operator_answered(leg, ext),
            )
            leg.joined_queue = time.monotonic()
            result = await executor.run()
            if result.answered_by is not None and leg.answered_extension is None:
                self._operator_answered(leg, result.answered_by.extension)
        except AgiHangup:
            pass
        finally:
            for u in unsub:
                u()
            self._joined.pop(leg.operator_uniqueid, None)
            leg.operator_done_at = time.monotonic()
            leg.operator_done.set()
            if not leg.operator_answered.is_set():
                await self._back_to_pending(leg, "no operator answered")
                self._end(leg)

    async def _plan(self, chan: AgiChannel, leg: Leg, row: CallbackRow, call: CallRow | None
                    ) -> tuple[RingPlan, Any, int | None]:
        store = self.router.store
        directory = await store.load_directory()
        caller = await store.find_caller(row.number)
        now = self.clock()
        joined = _aware(row.queue_joined_at or row.requested_at)
        waited = (_aware(row.requested_at) - joined).total_seconds() if row.queue_joined_at else None
        topic = _topic(call)
        if leg.kind == "click_to_call":
            op = directory.by_extension(leg.rang_extension or "")
            if op is None:
                raise ValueError("the requester's phone is not in the directory")
            base = caller.name if caller else row.number
            step = RingStep(0, StepKind.RING, "click_to_call",
                            targets=(RingTarget(op.id, op.extension),), timeout=30)
            plan = RingPlan((step,), callback_display(base, waited_s=None, kind=leg.kind),
                            caller.id if caller else None, now)
            position = None
        else:
            tracker = self.router.presence()
            presence = presence_by_operator(directory, tracker.snapshot(),
                                            self.router.waiting.in_wrapup) if tracker else {}
            history = await store.history(caller, row.number, exclude_call=row.call_id)
            plan = plan_call(caller=caller, directory=directory, presence=presence,
                             history=history, context=CallContext(topic=topic),
                             config=self.router.config, now=now)
            plan = replace(plan, display_name=callback_display(plan.display_name, waited_s=waited))
            position = queue_place(Waiter(row.priority, joined), self._waiters(row.queue or self.pool_queue))
            self._joined[chan.uniqueid] = joined
        # the pool step keeps the caller's priority as it was when they asked
        steps = tuple(replace(s, priority=row.priority) if s.kind is StepKind.QUEUE else s
                      for s in plan.steps)
        plan = replace(plan, steps=steps)
        await chan.set_variable("CALLERID(num)", row.number)
        log.info("callback.operator_leg", callback=leg.id, display=plan.display_name,
                 steps=[s.reason for s in plan.steps], position=position)
        return plan, directory, position

    def _mono(self, at: datetime) -> float:
        """A wall-clock moment on the waiting room's clock (time.monotonic())."""
        return time.monotonic() - (self.clock() - at).total_seconds()

    def pending_in(self, queue: str) -> list[Waiting]:
        """The callback requests of `queue` that will stand in it and are not on the line yet:
        stored and due (the next dispatcher round places them), or placed and on their way in.
        The waiting room counts them as callers ahead of whoever they will be ahead of; one
        whose Local channel has joined is counted there instead (same row id)."""
        return [Waiting(f"callback-{rid}", priority, -1, self._mono(joined), rid)
                for rid, (q, priority, joined) in self._due.items() if q == queue]

    def _waiters(self, queue: str) -> list[Waiter]:
        """The callers (and other callbacks) waiting in `queue` now, with their places."""
        now_wall, now_mono = self.clock(), time.monotonic()
        out = []
        for key, priority, joined in self.router.waiting.waiting_since(queue):
            at = self._joined.get(key) or now_wall - timedelta(seconds=now_mono - joined)
            out.append(Waiter(priority, at))
        return out

    def _follow_rings(self, ami: AmiClient, leg: Leg) -> list[Callable[[], None]]:
        from hotline.pbx.ami import AgentCalled, DialBegin

        def rang(uniqueid: str, channel: str) -> None:
            if uniqueid != leg.operator_uniqueid or leg.rang_at is not None:
                return
            leg.rang_at = time.monotonic()
            leg.rang_extension = extension_of_channel(channel) or leg.rang_extension
            self._spawn_update(leg.id, state="ringing_operator", operator_rang_at=self.clock())

        return [ami.subscribe(AgentCalled, lambda ev: rang(ev.uniqueid, ev.dest_channel or ev.interface)),
                ami.subscribe(DialBegin, lambda ev: rang(ev.uniqueid, ev.dest_channel))]

    def _operator_answered(self, leg: Leg, extension: str) -> None:
        if leg.operator_answered.is_set():
            return
        leg.answered_extension = extension
        leg.operator_answered.set()
        self._due.pop(leg.id, None)  # taken by an operator: ahead of nobody now
        log.info("callback.operator_answered", callback=leg.id, extension=extension)

    async def _caller_leg(self, chan: AgiChannel, leg: Leg) -> None:
        """Wait for the operator, then dial the caller; the outcome goes on the row."""
        leg.caller_arrived = True
        waiter = asyncio.create_task(leg.operator_answered.wait())
        done = asyncio.create_task(leg.operator_done.wait())
        try:
            await asyncio.wait({waiter, done}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            done.cancel()
        if not leg.operator_answered.is_set():
            return
        number = valid_number(leg.number)
        directory = await self.router.store.load_directory()
        op = directory.by_extension(leg.answered_extension or "")
        cfg = self.config()
        ring = cfg.ring_caller_s if leg.kind == "callback" else 30
        placed = self.clock()
        await self._update(leg.id, state="dialling_caller", placed_at=placed,
                           answered_by_id=op.id if op else None)
        status, talk_ms = "CHANUNAVAIL", None
        answered: list[datetime] = []  # when AMI saw the caller answer
        ami = self._ami()
        unsub = None
        if ami is not None:
            from hotline.pbx.ami import DialEnd

            def dial_end(ev: Any) -> None:
                if ev.uniqueid == chan.uniqueid and ev.dial_status.upper() == "ANSWER" and not answered:
                    answered.append(self.clock())
                    self._spawn_update(leg.id, state="answered", answered_at=answered[0])

            unsub = ami.subscribe(DialEnd, dial_end)
        try:
            if number is None:
                raise ValueError("not a number the service dials")
            # g: back here when the caller hangs up, to read how it went; r: the operator, who
            # is on the line already, hears ringback (Asterisk's ring tone) until the caller
            # answers, whether or not the caller's network sends 180 Ringing
            await chan.exec("Dial", f"PJSIP/{number}@{CALLERS_ENDPOINT},{int(ring)},gr")
            status = ((await chan.get_variable("DIALSTATUS")) or "").strip().upper() or "CANCEL"
            talk = await chan.get_variable("ANSWEREDTIME_MS")
            talk_ms = float(talk) if talk and talk.replace(".", "", 1).isdigit() else None
        except (AgiHangup, AgiError):
            status = "CANCEL"  # the operator hung up first (the caller leg ends with them)
        except ValueError:
            status = "INVALIDARGS"
        finally:
            if unsub is not None:
                unsub()
        ended = self.clock()
        if status == "CANCEL" and answered:
            status = "ANSWER"  # the operator hung up first, after the conversation
        if status == "ANSWER":
            # AMI's moment of the answer; without AMI, the end less the talk time
            answered_at = answered[0] if answered else ended - timedelta(milliseconds=talk_ms or 0)
            await self._update(leg.id, state="answered", answered_at=answered_at, closed_at=ended,
                               attempts=CallbackRow.attempts + 1, next_attempt_at=None)
            await self._call_event(leg.id, ended, "callback.answered", {
                "operator_id": op.id if op else None, "placed_at": placed.isoformat(),
                "answered_at": answered_at.isoformat(), "kind": leg.kind})
            log.info("callback.answered", callback=leg.id, operator=leg.answered_extension,
                     talk_ms=talk_ms)
        else:
            await self._caller_missed(leg, status, cfg)
        with contextlib.suppress(AgiError):
            await chan.hangup()  # the operator's side ends with it
        self._end(leg)

    async def _caller_missed(self, leg: Leg, status: str, cfg: CallbackConfig) -> None:
        async with self.sm() as s:
            row = await s.get(CallbackRow, leg.id)
        if row is None:
            return
        max_attempts = cfg.attempts if leg.kind == "callback" else 1
        now = self.clock()
        res = after_failed_try(row.attempts, max_attempts, cfg.retry_after_s, now, status.lower())
        values: dict[str, Any] = {"state": res.state, "attempts": res.attempts,
                                  "next_attempt_at": res.next_attempt_at, "reason": res.reason}
        if res.state == "failed":
            values["closed_at"] = now
        await self._update(leg.id, **values)
        log.info("callback.caller_missed", callback=leg.id, dialstatus=status, state=res.state,
                 attempts=res.attempts, next_attempt_at=res.next_attempt_at)
        if res.state == "failed":
            await self._call_event(leg.id, now, "callback.failed",
                                   {"attempts": res.attempts, "kind": leg.kind, "reason": res.reason})

    async def _back_to_pending(self, leg: Leg, why: str) -> None:
        async with self.sm() as s:
            row = await s.get(CallbackRow, leg.id)
        if row is None or row.state not in ("pending", *ACTIVE_STATES):
            return
        if leg.kind == "click_to_call":
            await self._update(leg.id, state="failed", closed_at=self.clock(),
                               reason="the requester did not answer")
            return
        await self._update(leg.id, state="pending")
        log.info("callback.not_connected", callback=leg.id, why=why)

    def _end(self, leg: Leg) -> None:
        if self.legs.get(leg.id) is leg:
            del self.legs[leg.id]
            self.finished.append(leg)
            del self.finished[:-200]
            self.wake()  # the next request may go now

    # ---- the table

    async def _retry_lost(self, rid: int) -> None:
        async with self.sm() as s, s.begin():
            await s.execute(update(CallbackRow).where(
                CallbackRow.id == rid, CallbackRow.state.in_(("pending", *ACTIVE_STATES))).values(
                state="pending", next_attempt_at=self.clock() + timedelta(seconds=LOST_RETRY_S)))

    async def _call_event(self, rid: int, at: datetime, kind: str, data: dict[str, Any]) -> None:
        """On the call the request came from: its record shows the callback."""
        async with self.sm() as s, s.begin():
            call_id = await s.scalar(select(CallbackRow.call_id).where(CallbackRow.id == rid))
            if call_id is not None:
                s.add(CallEventRow(call_id=call_id, at=at, kind=kind, data={"callback": rid, **data}))

    async def _update(self, rid: int, **values: Any) -> None:
        async with self.sm() as s, s.begin():
            await s.execute(update(CallbackRow).where(CallbackRow.id == rid).values(**values))

    def _spawn_update(self, rid: int, **values: Any) -> None:
        task = asyncio.create_task(self._update(rid, **values), name=f"callback-update-{rid}")
        self._pending_updates.add(task)
        task.add_done_callback(self._pending_updates.discard)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _topic(call: CallRow | None) -> str | None:
    if call is None or not call.intent:
        return None
    return INTENT_TOPICS.get(call.intent)
