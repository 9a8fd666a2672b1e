"""The dial executor: carries a `RingPlan` out on Asterisk from the caller's FastAGI session.

Per RING step one `Dial(PJSIP/a&PJSIP/b,<seconds>,g)`: Asterisk rings the targets together,
the first to answer gets the call and the others are cancelled.  The caller ID name is set
to the plan's display name first (through `quote`), so the operator's phone shows the
context.  The pool step is `Queue(<pool>,cR,,,<wait>)` with `QUEUE_PRIO` (VIPs higher).
Dial's `g` and Queue's `c` keep the caller in the AGI session after the operator hangs up,
for the rating (without `c`, Queue returns -1 after every conversation, as if the caller had
hung up; `g` is no Queue option); Queue's `R` plays music on hold, ringing only while an
operator's phone rings.

The outcome of a step is what Asterisk leaves on the caller's channel once Dial/Queue
returns, read with GET VARIABLE: DIALSTATUS, DIALEDPEERNUMBER / DIALEDPEERNAME and
ANSWEREDTIME_MS after Dial; MEMBERINTERFACE (queues.conf `setinterfacevar`; cleared by the
executor before each queue step, Queue never clears it), QUEUESTATUS (`CONTINUE`: a member
answered and the conversation ended) and ANSWEREDTIME_MS after Queue.  These do not depend
on AMI, which may be down.  After each step the outcome goes back to the policy
(`next_step`), which re-checks presence.  Every step is stored as an attempt; the call row
gets who answered; a step that carries a review flag (the team lead, or the pool when there
is no lead) flags the call for QA.

With an `AmiClient` the executor also follows the caller channel's DialBegin/DialEnd and
AgentConnect events: ring start times per target (for tests and the benchmark) and the moment
of the answer, stored at once for the wallboard.  They decide an outcome only when the
channel variables cannot be read: the caller hung up during the conversation, and with
AGIEXITONHANGUP Asterisk ends the session at once.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import structlog

from callrouting.callback_offer import CallbackIntake, QueueOffer
from callrouting.events import QueueListener, WaitAnnouncer
from callrouting.model import Directory, Operator, Presence
from callrouting.policy import (
    AttemptRecord,
    Outcome,
    ReviewReason,
    RingPlan,
    RingStep,
    StepKind,
    next_step,
    review_reason,
)
from callrouting.store import RoutingStore
from callrouting.waitroom import WaitingRoom
from hotline.clock import utcnow
from hotline.db.calls import CallKey
from hotline.db.writes import RowRef, known_id
from hotline.metrics import Metrics, Waiting
from hotline.pbx.agi import AgiChannel, AgiError, AgiHangup

if TYPE_CHECKING:
    from callrouting.presence import PresenceTracker
    from hotline.pbx.ami import AmiClient

log = structlog.get_logger("callrouting.executor")

_EXTENSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_OPTIONS = re.compile(r"^[A-Za-z()0-9^]*$")
# A queue attempt that comes back this fast without an answer did not really queue (unknown
# queue, Asterisk refusing): after a few, give up and let the dialplan's pool fallback act.
_QUEUE_FAST_FAIL_S = 1.0
_QUEUE_FAST_FAIL_MAX = 3

RouteOutcome = Literal["answered", "failed"]


def extension_of_channel(channel: str) -> str | None:
    """"PJSIP/1002-0000001a" or "PJSIP/1002" -> "1002"."""
    if "/" not in channel:
        return None
    rest = channel.split("/", 1)[1]
    return rest.rsplit("-", 1)[0] if "-" in rest else rest


def presence_by_operator(
    directory: Directory, snapshot: Mapping[str, Presence],
    in_wrapup: Callable[[str], bool] | None = None,
) -> dict[int, Presence]:
    """The tracker keys presence by extension; the policy by operator id. An operator in
    wrap-up after a routed call (`in_wrapup`) counts as in use: nobody dials them yet."""
    out = {}
    for op in directory.operators.values():
        state = snapshot.get(op.extension, Presence.UNAVAILABLE)
        if state is Presence.AVAILABLE and in_wrapup is not None and in_wrapup(op.extension):
            state = Presence.IN_USE
        out[op.id] = state
    return out


@dataclass
class StepTiming:
    """Monotonic times (time.monotonic) of one step, for logs and the benchmark."""

    step_index: int
    kind: str
    targets: tuple[str, ...]
    decided_at: float  # the policy returned this step
    sent_at: float = 0.0  # EXEC Dial/Queue written to Asterisk
    ring_started: dict[str, float] = field(default_factory=dict)  # extension -> DialBegin seen
    ended_at: float = 0.0
    timeout: int | None = None


@dataclass
class RoutingResult:
    outcome: RouteOutcome
    plan: RingPlan
    attempts: list[AttemptRecord]
    answered_by: Operator | None = None
    review: ReviewReason | None = None
    timings: list[StepTiming] = field(default_factory=list)


class CallEvents:
    """AMI events of one caller channel: who rang when, who answered."""

    def __init__(
        self,
        ami: AmiClient,
        uniqueid: str,
        clock: Callable[[], datetime],
        on_answer: Callable[[str, datetime], Any] | None = None,
    ):
        from hotline.pbx.ami import (
            AgentCalled,
            AgentConnect,
            AgentRingNoAnswer,
            DialBegin,
            DialEnd,
            QueueCallerJoin,
        )

        self.uniqueid = uniqueid
        self.on_answer = on_answer
        self.clock = clock
        self.current: StepTiming | None = None
        self.answered: tuple[str, datetime] | None = None
        self.answered_event = asyncio.Event()
        self.joined_event = asyncio.Event()  # QueueCallerJoin: the caller is in the queue
        self.ringing = 0  # queue members ringing for this caller now
        self._unsub = [
            ami.subscribe(QueueCallerJoin, self._joined),
            ami.subscribe(AgentRingNoAnswer, self._ring_ended),
            ami.subscribe(DialBegin, self._dial_begin),
            ami.subscribe(AgentCalled, self._agent_called),
            ami.subscribe(DialEnd, self._dial_end),
            ami.subscribe(AgentConnect, self._agent_connect),
        ]

    def close(self) -> None:
        for unsub in self._unsub:
            unsub()
        self._unsub.clear()

    def _joined(self, ev: Any) -> None:
        if ev.uniqueid == self.uniqueid:
            self.joined_event.set()

    def _ring(self, channel: str) -> None:
        ext = extension_of_channel(channel)
        if ext and self.current is not None:
            self.current.ring_started.setdefault(ext, time.monotonic())

    def _dial_begin(self, ev: Any) -> None:
        if ev.uniqueid == self.uniqueid:
            self._ring(ev.dest_channel)

    def _agent_called(self, ev: Any) -> None:
        if ev.uniqueid == self.uniqueid:
            self.ringing += 1
            self._ring(ev.dest_channel or ev.interface)

    def _ring_ended(self, ev: Any) -> None:
        if ev.uniqueid == self.uniqueid:
            self.ringing = max(0, self.ringing - 1)

    def _answer(self, channel: str) -> None:
        ext = extension_of_channel(channel)
        if ext and self.answered is None:
            self.answered = (ext, self.clock())
            self.answered_event.set()
            if self.on_answer is not None:
                self.on_answer(*self.answered)

    def _dial_end(self, ev: Any) -> None:
        if ev.uniqueid == self.uniqueid and ev.dial_status.upper() == "ANSWER":
            self._answer(ev.dest_channel)

    def _agent_connect(self, ev: Any) -> None:
        if ev.uniqueid == self.uniqueid:
            self.ringing = 0
            self._answer(ev.dest_channel or ev.interface)


class RoutingExecutor:
    """Rings one call through its plan.  One instance per call; `run()` once."""

    def __init__(
        self,
        chan: AgiChannel,
        plan: RingPlan,
        *,
        call_id: CallKey | None,
        directory: Directory,
        store: RoutingStore | None,
        presence: PresenceTracker | Callable[[], PresenceTracker | None] | None,
        ami: AmiClient | None = None,
        clock: Callable[[], datetime] = utcnow,
        dial_options: str = "g",
        queue_options: str = "cR",
        metrics: Metrics | None = None,
        waiting: WaitingRoom | None = None,
        announcer: WaitAnnouncer | None = None,
        vip: bool = False,
        pool_rule: str | None = None,
        overflow_extensions: frozenset[str] = frozenset(),
        callbacks: CallbackIntake | None = None,
        caller_number: str | None = None,
        queue_position: int | None = None,
        callback_place: tuple[int, float] | None = None,
        listener: QueueListener | None = None,
        on_answered: Callable[[str, datetime], Any] | None = None,
    ):
        for opts in (dial_options, queue_options):
            if not _OPTIONS.fullmatch(opts):
                raise ValueError(f"unsafe Dial/Queue options {opts!r}")
        self.chan, self.plan, self.call_id = chan, plan, call_id
        self.directory, self.store, self.presence = directory, store, presence
        self.ami, self.clock = ami, clock
        self.dial_options, self.queue_options = dial_options, queue_options
        self.log = log.bind(uniqueid=chan.uniqueid, call_id=known_id(call_id))
        self.events: CallEvents | None = None
        self.timings: list[StepTiming] = []
        self._answer_stored = False
        self.metrics = metrics or Metrics()
        self._waiting: Waiting | None = None  # the caller, counted while a step waits for a person
        # waiting in the pool: places, estimates and announcements (callrouting.waitroom);
        # `pool_rule` is the queue rule that widens the pool to the overflow members
        # (penalty 2) after the overflow wait; everyone else has penalty 1
        self.waiting, self.announcer, self.vip = waiting, announcer, vip
        self.pool_rule, self.overflow_extensions = pool_rule, overflow_extensions
        # the call's time in the pool queue (calls.queue_joined_at / queue_wait_ms, the
        # wallboard's service level and abandonment): the wait of earlier queue steps of this
        # call, and when the caller joined in the step in progress (None: not waiting there)
        self._queued_ms = 0
        self._queue_since: datetime | None = None
        # the callback offer while waiting (the announcer's `callback`, docs/decisions/0008):
        # requests go to `callbacks`; `caller_number` is read back to the caller
        self.callbacks, self.caller_number = callbacks, caller_number
        self.queue_position = queue_position  # Queue()'s `position`: a callback keeps its place
        # a callback's operator leg: (its row id, its caller's join, monotonic): the waiting
        # room orders it where Asterisk put it, and counts it once
        self.callback_place = callback_place
        self.listener = listener  # hears "call me back" (the dialplan's queue.callback.listen)
        self.on_answered = on_answered  # AMI saw the answer (a callback's operator leg)
        self._queue_joined_at: datetime | None = None  # the first pool step's start

    # ---- the loop

    async def run(self) -> RoutingResult:
        attempts: list[AttemptRecord] = []
        if self.ami is not None:
            self.events = CallEvents(
                self.ami, self.chan.uniqueid, self.clock, on_answer=self._answered_now
            )
        answered_by: Operator | None = None
        fast_fails = 0
        try:
            step = next_step(self.plan, attempts, self._presence())
            while step is not None:
                timing = StepTiming(
                    step.index, str(step.kind), step.extensions, time.monotonic(),
                    timeout=step.timeout,
                )
                self.timings.append(timing)
                if self.events is not None:
                    self.events.current = timing
                self._waiting = self.metrics.waiting("ring" if step.kind is StepKind.RING else "queue")
                try:
                    if step.kind is StepKind.RING:
                        record = await self._ring(step, timing)
                    else:
                        record = await self._queue(step, timing)
                finally:
                    self._waiting.done()
                timing.ended_at = time.monotonic()
                attempts.append(record)
                if record.answered_by is not None:
                    answered_by = self.directory.operators.get(record.answered_by)
                    if answered_by is not None and self.waiting is not None:
                        self.waiting.call_ended(answered_by.extension)  # Dial/Queue return after it
                if step.kind is StepKind.QUEUE and record.outcome is not Outcome.ANSWERED:
                    if timing.ended_at - timing.sent_at < _QUEUE_FAST_FAIL_S:
                        fast_fails += 1
                        if fast_fails >= _QUEUE_FAST_FAIL_MAX:
                            self.log.error("routing.queue_failing", queue=step.queue)
                            break
                        await asyncio.sleep(_QUEUE_FAST_FAIL_S)
                step = next_step(self.plan, attempts, self._presence())
        finally:
            if self.events is not None:
                self.events.close()
        answered = any(a.outcome is Outcome.ANSWERED for a in attempts)
        result = RoutingResult(
            outcome="answered" if answered else "failed",
            plan=self.plan,
            attempts=attempts,
            answered_by=answered_by,
            review=review_reason(attempts),
            timings=self.timings,
        )
        self.log.info(
            "routing.finished",
            outcome=result.outcome,
            answered_by=answered_by.extension if answered_by else None,
            steps=[(a.reason, str(a.outcome)) for a in attempts],
            review=result.review,
        )
        return result

    def _presence(self) -> dict[int, Presence] | None:
        # a provider is asked each time: the service swaps trackers when the directory changes
        tracker = self.presence() if callable(self.presence) else self.presence
        if tracker is None:
            return None
        return presence_by_operator(self.directory, tracker.snapshot(),
                                    self.waiting.in_wrapup if self.waiting else None)

    # ---- steps

    async def _ring(self, step: RingStep, timing: StepTiming) -> AttemptRecord:
        targets = "&".join(f"PJSIP/{_checked(ext)}" for ext in step.extensions)
        await self._before_step(step)
        started = self.clock()
        attempt = self._spawn_attempt(step, started)
        timing.sent_at = time.monotonic()
        self.log.info("routing.ring", step=step.index, reason=step.reason,
                      targets=list(step.extensions), timeout=step.timeout)
        hung_up = False
        try:
            await self.chan.exec("Dial", f"{targets},{int(step.timeout or 15)},{self.dial_options}")
        except AgiHangup:
            hung_up = True
        status = (await self._var("DIALSTATUS")) or ""  # Dial sets it on every return
        peer = (await self._var("DIALEDPEERNUMBER")) or ""  # "1002": who answered
        peer_channel = (await self._var("DIALEDPEERNAME")) or ""  # "PJSIP/1002-0000001a"
        talk_ms = _number(await self._var("ANSWEREDTIME_MS"))
        ended = self.clock()
        seen = self._seen_answer()
        source = "channel"
        if not status:  # unreadable: the caller hung up (the session ended with the call)
            source = "ami" if seen else "none"
            gone = hung_up or self.chan.hung_up
            status = "ANSWER" if seen else ("CANCEL" if gone else "NOANSWER")
        outcome = Outcome.from_dialstatus(status)
        answered_by: int | None = None
        if outcome is Outcome.ANSWERED:
            ext = (extension_of_channel(f"X/{peer}") if peer else None) or (
                extension_of_channel(peer_channel) if peer_channel else None)
            op = self.directory.by_extension(ext or (seen[0] if seen else ""))
            answered_by = op.id if op else None
            self._store_answer(answered_by, self._answered_at(seen, ended, talk_ms))
        self.log.info("routing.dial_returned", step=step.index, dialstatus=status or None,
                      peer=peer or peer_channel or None, answered_ms=talk_ms, source=source,
                      ami_saw_answer=seen is not None)
        return await self._finish(step, attempt, outcome, answered_by, started, ended)

    async def _queue(self, step: RingStep, timing: StepTiming) -> AttemptRecord:
        queue = _checked(step.queue or "")
        await self.chan.set_variable("QUEUE_PRIO", str(int(step.priority)))
        # Queue sets MEMBERINTERFACE when a member answers and never clears it: clear it so
        # that a value after this step is this step's answer (not an earlier transfer's)
        await self.chan.set_variable("MEMBERINTERFACE", "")
        if self.announcer is not None and self.announcer.music:
            await self.chan.set_variable("CHANNEL(musicclass)", _checked(self.announcer.music))
        rule = ""
        if self.pool_rule is not None:
            rule = _checked(self.pool_rule)
            await self.chan.set_variable("QUEUE_MAX_PENALTY", "1")
        await self._before_step(step)
        started = self.clock()
        if self._queue_joined_at is None:
            self._queue_joined_at = started
        attempt = self._spawn_attempt(step, started)
        timing.sent_at = time.monotonic()
        self.log.info("routing.queue", step=step.index, queue=queue, priority=step.priority,
                      max_wait=step.timeout, rule=rule or None, position=self.queue_position)
        wait = "" if step.timeout is None else str(int(step.timeout))
        hung_up = False
        key = self.chan.uniqueid
        self._joined_queue(started)
        offer = self._start_offer(queue)
        announcing = self._start_waiting(queue, step, offer)
        try:
            tail = f",,,{rule}" if rule else ""  # args 6-8: AGI, gosub, rule
            if self.queue_position is not None:  # arg 9: position
                tail = f",,,{rule},{int(self.queue_position)}"
            await self.chan.exec("Queue", f"{queue},{self.queue_options},,,{wait}{tail}")
        except AgiHangup:
            hung_up = True
        finally:
            for task in (announcing, offer.task if offer is not None else None):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            if offer is not None:
                offer.close()
            if self.waiting is not None:
                self.waiting.talk_ended(key)
                self.waiting.leave(key)
        status = ((await self._var("QUEUESTATUS")) or "").strip().upper()
        # withdrawn for a confirmed callback (the caller may hang up at once after confirming:
        # the request stands, the goodbye is skipped)
        if offer is not None and offer.number is not None and (
                status == "WITHDRAW" or hung_up or self.chan.hung_up):
            ended = self.clock()
            self._left_queue(ended)  # the wait ends here: the callback keeps the place
            await self._callback_requested(offer, queue, step, ended)
            self.log.info("routing.queue_returned", step=step.index, queuestatus=status,
                          callback_number_keyed=offer.number != self.caller_number)
            return await self._finish(step, attempt, Outcome.CALLBACK, None, started, ended)
        member = (await self._var("MEMBERINTERFACE")) or ""
        talk_ms = _number(await self._var("ANSWEREDTIME_MS"))
        ended = self.clock()
        seen = self._seen_answer()
        answered_ext = extension_of_channel(member) if member else None
        # CONTINUE: with option c, Queue returns so only after a member answered and hung up
        if answered_ext is not None or status == "CONTINUE":
            outcome, source = Outcome.ANSWERED, "channel"
            answered_ext = answered_ext or (seen[0] if seen else None)
        elif seen is not None:  # the variables were unreadable (the caller hung up): AMI saw it
            outcome, source, answered_ext = Outcome.ANSWERED, "ami", seen[0]
        elif hung_up or self.chan.hung_up:
            # Queue returned -1 (the caller left while waiting), or it returned and the
            # session ended before its variables could be read: the caller is gone either way
            outcome, source = Outcome.CALLER_HUNG_UP, "none" if self.chan.hung_up else "channel"
        else:
            outcome, source = Outcome.from_queuestatus(status or "TIMEOUT"), "channel"
        answered_by: int | None = None
        if outcome is Outcome.ANSWERED:
            op = self.directory.by_extension(answered_ext or "")
            answered_by = op.id if op else None
            answered_at = self._answered_at(seen, ended, talk_ms)
            self._store_answer(answered_by, answered_at)
            self._left_queue(answered_at)
        else:
            self._left_queue(ended)  # hung up (abandoned), timed out, or the queue failed
        self.log.info("routing.queue_returned", step=step.index, queuestatus=status or None,
                      member=member or None, answered_ms=talk_ms, source=source,
                      ami_saw_answer=seen is not None)
        return await self._finish(step, attempt, outcome, answered_by, started, ended)

    def _seen_answer(self) -> tuple[str, datetime] | None:
        """Who AMI saw answer this call (extension, when), if AMI was there to see it."""
        return self.events.answered if self.events is not None else None

    @staticmethod
    def _answered_at(seen: tuple[str, datetime] | None, ended: datetime,
                     talk_ms: float | None) -> datetime:
        """AMI's moment of the answer if it saw it, else the end less the talk time."""
        if seen is not None:
            return seen[1]
        return ended - timedelta(milliseconds=talk_ms or 0)

    def _joined_queue(self, at: datetime) -> None:
        self._queue_since = at
        if self.store is not None and self.call_id is not None:
            self.store.queue_joined(self.call_id, at)

    def _left_queue(self, at: datetime) -> None:
        """The wait in the queue ended at `at` (an operator answered, or the caller left):
        the call's queue wait is that of every queue step of the call so far."""
        since, self._queue_since = self._queue_since, None
        if since is None:
            return  # stored already (AMI saw the answer first)
        self._queued_ms += max(0, round((at - since).total_seconds() * 1000))
        if self.store is not None and self.call_id is not None:
            self.store.queue_waited(self.call_id, self._queued_ms)

    def _start_offer(self, queue: str) -> QueueOffer | None:
        """The callback offer beside Queue(): the caller's keys over AMI, the prompts whispered."""
        announcer = self.announcer
        channel = self.chan.env.get("agi_channel") or ""
        if (announcer is None or announcer.callback is None or self.callbacks is None
                or self.ami is None or self.waiting is None or self.waiting.whisper is None
                or not channel):
            return None
        offer = QueueOffer(self.ami, self.chan.uniqueid, channel, queue, announcer.callback,
                           announcer.sound, self.waiting.whisper, self.callbacks,
                           self.caller_number, listener=self.listener)
        offer.task = asyncio.create_task(offer.run(), name=f"callback-offer-{self.chan.uniqueid}")
        return offer

    async def _callback_requested(self, offer: QueueOffer, queue: str, step: RingStep,
                                  at: datetime) -> None:
        """Out of Queue() by QueueWithdrawCaller: store the request (with the caller's place),
        then the goodbye."""
        assert self.callbacks is not None and offer.number is not None
        try:
            await self.callbacks.requested(
                call_id=self.call_id, number=offer.number, queue=queue,
                priority=int(step.priority), joined_at=self._queue_joined_at or at,
                requested_at=at)
        except Exception:
            self.log.exception("callback.not_stored", number_keyed=offer.number != self.caller_number)
        if self.announcer is not None and self.announcer.callback is not None \
                and not self.chan.hung_up:
            try:
                sound = await self.announcer.sound(self.announcer.callback.goodbye(offer.number))
                await self.chan.stream_file(sound)
            except AgiHangup:
                pass
            except Exception:
                self.log.exception("callback.goodbye_failed")

    def _start_waiting(self, queue: str, step: RingStep,
                       offer: QueueOffer | None = None) -> asyncio.Task[None] | None:
        """Register the caller in the waiting room; start its announcements if it has any."""
        if self.waiting is None:
            return None
        self.waiting.join(queue, self.chan.uniqueid, int(step.priority), self._staff,
                          vip=self.vip, call_id=self.call_id,
                          joined_at=self._queue_since,
                          since=self.callback_place[1] if self.callback_place else None,
                          callback=self.callback_place[0] if self.callback_place else None)
        channel = self.chan.env.get("agi_channel") or ""
        if self.announcer is None or self.events is None or not channel:
            return None
        self.events.answered_event.clear()  # a new wait (the queue step comes again)
        self.events.joined_event.clear()
        self.events.answered = None
        self.events.ringing = 0
        events = self.events
        return asyncio.create_task(
            self.waiting.announce(channel, self.chan.uniqueid, self.call_id,
                                  self.announcer, self.events.answered_event, vip=self.vip,
                                  joined=self.events.joined_event,
                                  ringing=lambda: events.ringing > 0 or (
                                      offer is not None and offer.dialog.active)),
            name=f"queue-announce-{self.chan.uniqueid}",
        )

    def _staff(self) -> tuple[int, int]:
        """(free, busy) operators who take pool calls now (overflow members only later)."""
        presence = self._presence()
        if presence is None:
            return 0, 0
        free = busy = 0
        for op in self.directory.operators.values():
            if op.extension in self.overflow_extensions:
                continue
            state = presence.get(op.id, Presence.UNAVAILABLE)
            if state is Presence.AVAILABLE:
                free += 1
            elif state in (Presence.IN_USE, Presence.RINGING):
                busy += 1
        return free, busy

    async def _before_step(self, step: RingStep) -> None:
        await self.chan.set_variable("CALLERID(name)", self.plan.display_name)
        if step.flag_for_review is not None and self.store and self.call_id is not None:
            self.store.flag_review(self.call_id, str(step.flag_for_review), self.clock())
            self.log.info("routing.flagged_for_review", reason=str(step.flag_for_review),
                          step=step.reason)

    # ---- bookkeeping (never delays a ring: the store queues its writes, hotline.db.writes,
    # which retries them and logs any it has to give up)

    def _spawn_attempt(self, step: RingStep, started: datetime) -> RowRef | None:
        if self.store is None or self.call_id is None:
            return None
        return self.store.add_attempt(
            self.call_id,
            step_index=step.index,
            reason=step.reason,
            targets=step.extensions if step.kind is StepKind.RING else [step.queue or ""],
            started_at=started,
        )

    def _answered_now(self, extension: str, at: datetime) -> None:
        """AMI saw the answer: put it on the call row at once (the wallboard shows it)."""
        if self._waiting is not None:
            self._waiting.done()  # talking now, no longer waiting
        op = self.directory.by_extension(extension)
        if self.waiting is not None:
            self.waiting.answered(self.chan.uniqueid)
        self._store_answer(op.id if op else None, at)
        self._left_queue(at)  # no-op unless a queue step waits: its wait ends with the answer
        if self.on_answered is not None:
            self.on_answered(extension, at)

    def _store_answer(self, operator_id: int | None, at: datetime) -> None:
        if self.store is not None and self.call_id is not None and not self._answer_stored:
            self._answer_stored = True
            self.store.mark_answered(self.call_id, operator_id, at)

    async def _finish(
        self,
        step: RingStep,
        attempt: RowRef | None,
        outcome: Outcome,
        answered_by: int | None,
        started: datetime,
        ended: datetime,
    ) -> AttemptRecord:
        if attempt is not None and self.store is not None:
            self.store.finish_attempt(
                attempt, started_at=started, ended_at=ended,
                outcome=str(outcome), answered_by_id=answered_by,
            )
        self.log.info("routing.step_ended", step=step.index, reason=step.reason,
                      outcome=str(outcome), answered_by=answered_by,
                      seconds=round((ended - started).total_seconds(), 2))
        return AttemptRecord.for_step(step, outcome, answered_by=answered_by,
                                      started_at=started, ended_at=ended)

    async def _var(self, name: str) -> str | None:
        """Read a channel variable; None once the caller hung up (Asterisk 22 does not answer
        GET VARIABLE after an EXEC that returned -1: AMI events tell the rest)."""
        if self.chan.hung_up:
            return None
        try:
            return await self.chan.get_variable(name)
        except AgiError:
            return None


def _checked(extension: str) -> str:
    if not _EXTENSION.fullmatch(extension):
        raise ValueError(f"unsafe extension or queue name {extension!r}")
    return extension


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
