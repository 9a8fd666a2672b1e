"""The routing service: from "the caller wants a person" to a finished `RoutingResult`.

`CallRouter.route_call(chan, transfer, call_context)` is what the IVR's Transfer effect
calls: it loads the directory, caller and history (`RoutingStore`), takes a presence
snapshot, asks the pure policy for a plan and hands it to a `RoutingExecutor`.
`RoutingCallFlow` is a complete FastAGI handler around it (answer, store the call, route,
finish) for running routing without the IVR (tests, benchmark, demo).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callrouting.callback_offer import CallbackIntake
from callrouting.events import QueueListener, WaitAnnouncer
from callrouting.executor import RoutingExecutor, RoutingResult, presence_by_operator
from callrouting.policy import CallContext, plan_call
from callrouting.rules import RoutingConfig
from callrouting.store import RoutingStore
from callrouting.waitroom import WaitingRoom
from directory.lookup import find_caller
from hotline.clock import utcnow
from hotline.db.calls import CallKey, CallStore
from hotline.db.writes import WriteLost, WriteQueue, known_id
from hotline.metrics import Metrics
from hotline.pbx.agi import AgiChannel, AgiHangup

if TYPE_CHECKING:
    from callrouting.presence import PresenceTracker
    from hotline.pbx.ami import AmiClient

log = structlog.get_logger("callrouting.router")

# Human labels for the operator's display ("VIP Maria Ivanova - ticket check").
INTENT_TOPICS = {
    "check_ticket": "ticket check",
    "claim_winnings": "prize claim",
    "next_draw": "next draw",
    "winning_numbers": "winning numbers",
}

@dataclass(frozen=True)
class RouteRequest:
    """Everything the router needs about one call, from any front end."""

    call_id: CallKey | None  # a CallRef while its row is still queued
    caller_number: str | None  # as Asterisk gave it; normalised by the store
    context: CallContext
    announcer: WaitAnnouncer | None = None  # what a caller waiting in the pool hears


def call_context_from(transfer: Any, call_context: Any = None) -> tuple[CallContext, dict[str, Any]]:
    """Accept an ivr `Transfer` effect, its context dict, or None; plus the session's call
    context (mapping or object).  Returns the policy's `CallContext` and the merged dict."""
    ctx: dict[str, Any] = {}
    for source in (call_context, getattr(transfer, "context", transfer)):
        if source is None:
            continue
        if isinstance(source, Mapping):
            ctx.update({k: v for k, v in source.items() if v is not None})
        else:
            ctx.update({k: v for k, v in vars(source).items() if v is not None})
    variables = ctx.get("variables") or {}
    intent = ctx.get("intent") or variables.get("bot_intent")
    slots = dict(ctx.get("slots") or {})
    for key, value in variables.items():
        slots.setdefault(key, value)
    topic = ctx.get("topic") or INTENT_TOPICS.get(intent or "")
    return (
        CallContext(intent=intent, category=ctx.get("category"), slots=slots, topic=topic),
        ctx,
    )


class CallRouter:
    """One per service.  `presence` may be a tracker or a callable returning the current one
    (the service replaces its tracker at start)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        config: RoutingConfig,
        presence: PresenceTracker | Callable[[], PresenceTracker | None] | None,
        *,
        country: str = "RU",
        ami: AmiClient | Callable[[], AmiClient | None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        dial_options: str = "g",
        queue_options: str = "cR",
        metrics: Metrics | None = None,
        writes: WriteQueue | None = None,  # the service's one write path (the call store's)
        waiting: WaitingRoom | None = None,
    ):
        self.store = RoutingStore(sessionmaker, country=country, writes=writes)
        self.metrics = metrics or Metrics()
        # callers waiting in the pool (places, estimates, announcements); the queue rule and
        # overflow members are set by the service from the active dialplan's `queue:`
        self.waiting = waiting or WaitingRoom(events=CallStore(sessionmaker, writes).event)
        self.pool_rule: str | None = None
        self.overflow_extensions: frozenset[str] = frozenset()
        # where a waiting caller's callback request goes (callrouting.callback_desk, set by
        # the service); None: the dialplan's callback offer is not made
        self.callbacks: CallbackIntake | None = None
        # hears a waiting caller say "call me back" (the voice bot's gateway; None: keys only)
        self.listener: QueueListener | None = None
        self.config = config
        self._presence = presence
        self._ami = ami
        self.clock = clock
        self.dial_options, self.queue_options = dial_options, queue_options
        self.last_result: RoutingResult | None = None  # for tests and the benchmark

    def presence(self) -> PresenceTracker | None:
        p = self._presence
        return p() if callable(p) and not hasattr(p, "snapshot") else p  # type: ignore[return-value]

    def ami(self) -> AmiClient | None:
        a = self._ami
        return a() if callable(a) and not hasattr(a, "subscribe") else a  # type: ignore[return-value]

    async def route_call(self, chan: AgiChannel, transfer: Any, call_context: Any = None) -> Any:
        """The IVR's transfer callable: `async (chan, Transfer, call context) -> TransferResult`.

        Returns `callrouting.events.TransferResult("answered" | "failed")`; "failed" only when the
        caller hung up before anyone answered (the pool queue never gives up on a caller).
        """
        from callrouting.events import TransferResult

        context, ctx = call_context_from(transfer, call_context)
        call_id = ctx.get("call_id")
        if call_id is None and chan.uniqueid:
            call_id = await self.store.call_id_for(chan.uniqueid)
        number = ctx.get("caller_number") or chan.env.get("agi_callerid") or None
        announcer = ctx.get("wait_announcer")
        request = RouteRequest(call_id, number, context,
                               announcer if isinstance(announcer, WaitAnnouncer) else None)
        result = await self.route(chan, request)
        if any(str(a.outcome) == "callback" for a in result.attempts):
            return TransferResult("callback")
        return TransferResult(result.outcome)

    async def route(self, chan: AgiChannel, request: RouteRequest) -> RoutingResult:
        asked = time.monotonic()
        store = self.store
        directory = await store.load_directory()
        caller = await store.find_caller(request.caller_number)
        history = await store.history(caller, request.caller_number, exclude_call=request.call_id)
        tracker = self.presence()
        presence = presence_by_operator(directory, tracker.snapshot(),
                                        self.waiting.in_wrapup) if tracker else {}
        plan = plan_call(
            caller=caller,
            directory=directory,
            presence=presence,
            history=history,
            context=request.context,
            config=self.config,
            now=self.clock(),
        )
        decided = time.monotonic()
        self.metrics.routing_decision.observe(decided - asked)
        log.info("routing.planned", uniqueid=chan.uniqueid, call_id=known_id(request.call_id),
                 steps=[(s.reason, list(s.extensions) or s.queue) for s in plan.steps],
                 display=plan.display_name, notes=list(plan.notes))
        executor = RoutingExecutor(
            chan, plan, call_id=request.call_id, directory=directory, store=store,
            presence=self.presence, ami=self.ami(), clock=self.clock,
            dial_options=self.dial_options, queue_options=self.queue_options,
            metrics=self.metrics,
            waiting=self.waiting, announcer=request.announcer, vip=bool(caller and caller.vip),
            pool_rule=self.pool_rule, overflow_extensions=self.overflow_extensions,
            callbacks=self.callbacks, listener=self.listener, caller_number=store.normalize(request.caller_number),
        )
        result = await executor.run()
        if result.timings:
            result.timings[0].decided_at = decided  # the decision is the plan, not the loop
        rung = [min(t.ring_started.values()) for t in result.timings if t.ring_started]
        if rung:  # seen on AMI (DialBegin, AgentCalled); none: nobody was rung
            self.metrics.routing_to_ring.observe(rung[0] - decided)
        self.metrics.routing_finished.labels(result.outcome).inc()
        self.last_result = result
        return result


class RoutingCallFlow:
    """A FastAGI handler that routes every call at once (no IVR): answer, store, route.

    `context_for(chan)` may supply the `CallContext` (e.g. a topic) per call.
    """

    def __init__(
        self,
        calls: CallStore,
        router: CallRouter,
        *,
        country: str = "RU",
        context_for: Callable[[AgiChannel], CallContext] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.calls, self.router, self.country = calls, router, country
        self.context_for = context_for
        self.clock = clock
        self.results: list[RoutingResult] = []

    async def __call__(self, chan: AgiChannel) -> None:
        raw = chan.env.get("agi_callerid") or None
        number = self.router.store.normalize(raw)
        caller = await find_caller(self.calls.sm, number)
        call_id = self.calls.open_call(  # queued: routing does not wait for the database
            uniqueid=chan.uniqueid, linkedid=chan.env.get("agi_linkedid") or None,
            channel=chan.env.get("agi_channel"), caller_id_raw=raw, caller_number=number,
            caller=caller, started_at=self.clock(),
        )
        outcome = "caller_hung_up"
        try:
            await chan.answer()
            context = self.context_for(chan) if self.context_for else CallContext()
            result = await self.router.route(chan, RouteRequest(call_id, raw, context))
            self.results.append(result)
            if result.outcome == "answered":
                outcome = "answered"
            if result.outcome == "answered" and not chan.hung_up:
                await chan.set_variable("HOTLINE_DONE", "1")
                await chan.hangup()
        except AgiHangup:
            pass
        finally:
            with contextlib.suppress(WriteLost):  # logged with its data by the write queue
                await self.calls.finish_call(call_id, outcome)
