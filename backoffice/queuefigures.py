"""The wallboard's queue figures, from per-call facts: pure (no I/O, no clock of its own).

`queue_board(calls, callbacks, waiting, now=..., since=..., service_level_s=...)` gives the
figures overall and per team over the window `since`..`now` (`now` is passed in: tests
script it, the route passes the app's clock).

Definitions (a rate is None when its denominator is zero):
- a queue call: a call that joined the pool queue (`calls.queue_joined_at`) in the window;
- answered: an operator answered it; its wait is `queue_wait_ms` (join -> answer);
- left for a callback: it was not answered on the line and the caller asked for a callback
  (a `callbacks` row of kind `callback` for the call): neither answered nor abandoned;
- abandoned: not answered, no callback, and it is over (a stored wait, or the call ended);
  "abandoned after" is its wait (`queue_wait_ms`, else end - join);
- still waiting: none of these yet (it is counted in `waiting_now`, from the live room);
- service level: answered within `service_level_s` / (answered + abandoned);
- average speed of answer (ASA): mean wait of the answered calls;
- abandonment: abandoned / (answered + abandoned);
- callbacks: pending now (not yet answered, failed or cancelled, whenever asked), done
  (answered in the window), failed (closed as failed in the window);
- waiting now: callers on the line (the service's waiting room) plus pending callbacks that
  keep their place, in one order (priority, then time in queue); longest wait among them.

A call's team is the team of the operator who answered it; an unanswered call's is the team
of the caller's personal manager, if any (`team=None`: no team).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

PENDING_STATES = frozenset({"pending", "ringing_operator", "dialling_caller"})


@dataclass(frozen=True)
class Team:
    id: int | None  # None: no team
    name: str | None


NO_TEAM = Team(None, None)


@dataclass(frozen=True)
class QueueCall:
    """One call that joined the pool queue."""

    call_id: int
    joined_at: datetime  # aware
    wait_s: float | None = None  # queue_wait_ms / 1000 (None: still waiting, or not stored)
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    team: Team = NO_TEAM
    callback: bool = False  # the caller asked for a callback instead of waiting
    caller_number: str | None = None
    caller_name: str | None = None
    vip: bool = False


@dataclass(frozen=True)
class CallbackFact:
    callback_id: int
    call_id: int
    kind: str  # callback | click_to_call
    state: str  # callrouting.tables.CALLBACK_STATES
    requested_at: datetime
    queue_joined_at: datetime | None = None  # the place a callback keeps
    priority: int = 0
    answered_at: datetime | None = None
    closed_at: datetime | None = None
    team: Team = NO_TEAM
    number: str | None = None
    caller_name: str | None = None
    vip: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class OnTheLine:
    """A caller on the line in the queue now (from the waiting room), with the call's facts."""

    uniqueid: str
    waited_s: float
    priority: int = 0
    vip: bool = False
    joined_at: datetime | None = None
    call_id: int | None = None
    team: Team = NO_TEAM
    caller_number: str | None = None
    caller_name: str | None = None


@dataclass(frozen=True)
class WaitingNow:
    position: int  # in the one order of callers on the line and pending callbacks
    waited_s: float
    vip: bool
    callback: bool  # a callback request keeping its place (the caller hung up)
    call_id: int | None
    team: Team
    caller_number: str | None
    caller_name: str | None
    callback_state: str | None = None


@dataclass
class Figures:
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    left_for_callback: int = 0
    waits: list[float] = field(default_factory=list)  # answered calls' waits
    abandon_waits: list[float] = field(default_factory=list)
    callbacks_pending: int = 0
    callbacks_done: int = 0
    callbacks_failed: int = 0
    waiting_now: int = 0
    longest_wait_s: float | None = None

    @property
    def handled(self) -> int:
        return self.answered + self.abandoned

    @property
    def service_level(self) -> float | None:
        return _ratio(self.answered_within, self.handled)

    @property
    def abandonment(self) -> float | None:
        return _ratio(self.abandoned, self.handled)

    @property
    def asa_s(self) -> float | None:
        return round(statistics.fmean(self.waits), 3) if self.waits else None

    @property
    def abandoned_after_mean_s(self) -> float | None:
        return round(statistics.fmean(self.abandon_waits), 3) if self.abandon_waits else None

    @property
    def abandoned_after_max_s(self) -> float | None:
        return round(max(self.abandon_waits), 3) if self.abandon_waits else None


@dataclass(frozen=True)
class QueueBoard:
    now: datetime
    since: datetime
    service_level_s: float
    overall: Figures
    teams: dict[Team, Figures]
    waiting: list[WaitingNow]


@dataclass(frozen=True)
class Abandoned:
    """A caller to call back: abandoned in the queue, or a callback that failed."""

    kind: str  # abandoned | callback_failed
    call_id: int
    at: datetime  # when they left the queue / the callback was closed
    caller_number: str | None
    caller_name: str | None
    vip: bool
    team: Team
    waited_s: float | None  # abandoned after (None for a failed callback without a queue wait)
    callback_id: int | None = None
    reason: str | None = None
    called_back: str | None = None  # the latest click-to-call's state for this call, if any


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _seconds(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds())


def classify(c: QueueCall) -> tuple[str, float | None]:
    """("answered" | "callback" | "abandoned" | "waiting", the wait in seconds)."""
    if c.answered_at is not None:
        wait = c.wait_s if c.wait_s is not None else _seconds(c.joined_at, c.answered_at)
        return "answered", wait
    if c.callback:
        return "callback", c.wait_s
    if c.wait_s is not None:
        return "abandoned", c.wait_s
    if c.ended_at is not None:
        return "abandoned", _seconds(c.joined_at, c.ended_at)
    return "waiting", None


def _in(at: datetime | None, since: datetime, now: datetime) -> bool:
    return at is not None and since <= at <= now


def waiting_order(on_line: Sequence[OnTheLine], callbacks: Sequence[CallbackFact],
                  now: datetime) -> list[WaitingNow]:
    """Callers on the line and pending callbacks in one order: higher priority first, then
    who joined the queue first (a callback keeps the caller's time in queue)."""
    on_call_ids = {w.call_id for w in on_line if w.call_id is not None}
    rows: list[tuple[int, float, WaitingNow]] = []
    for w in on_line:
        rows.append((-w.priority, -w.waited_s, WaitingNow(
            0, round(w.waited_s, 1), w.vip, False, w.call_id, w.team, w.caller_number,
            w.caller_name)))
    for cb in callbacks:
        if cb.state not in PENDING_STATES or cb.kind != "callback" or cb.call_id in on_call_ids:
            continue
        waited = _seconds(cb.queue_joined_at or cb.requested_at, now)
        rows.append((-cb.priority, -waited, WaitingNow(
            0, round(waited, 1), cb.vip, True, cb.call_id, cb.team, cb.number, cb.caller_name,
            callback_state=cb.state)))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [replace(w, position=i) for i, (_, _, w) in enumerate(rows, start=1)]


def queue_board(calls: Iterable[QueueCall], callbacks: Iterable[CallbackFact],
                on_line: Sequence[OnTheLine], *, now: datetime, since: datetime,
                service_level_s: float = 20.0) -> QueueBoard:
    callbacks = list(callbacks)
    overall = Figures()
    teams: dict[Team, Figures] = {}

    def both(team: Team) -> tuple[Figures, Figures]:
        return overall, teams.setdefault(team, Figures())

    for c in calls:
        if not _in(c.joined_at, since, now):
            continue
        kind, wait = classify(c)
        for f in both(c.team):
            if kind == "answered":
                f.answered += 1
                assert wait is not None
                f.waits.append(wait)
                f.answered_within += wait <= service_level_s
            elif kind == "abandoned":
                f.abandoned += 1
                if wait is not None:
                    f.abandon_waits.append(wait)
            elif kind == "callback":
                f.left_for_callback += 1
    for cb in callbacks:
        for f in both(cb.team):
            if cb.state in PENDING_STATES:
                f.callbacks_pending += 1
            elif cb.state == "answered" and _in(cb.answered_at or cb.closed_at, since, now):
                f.callbacks_done += 1
            elif cb.state == "failed" and _in(cb.closed_at, since, now):
                f.callbacks_failed += 1
    waiting = waiting_order(on_line, callbacks, now)
    for w in waiting:
        for f in both(w.team):
            f.waiting_now += 1
            f.longest_wait_s = max(f.longest_wait_s or 0.0, w.waited_s)
    return QueueBoard(now=now, since=since, service_level_s=service_level_s, overall=overall,
                      teams=teams, waiting=waiting)


def to_call_back(calls: Iterable[QueueCall], callbacks: Iterable[CallbackFact], *,
                 now: datetime, since: datetime) -> list[Abandoned]:
    """Abandoned queue calls and failed callbacks in the window, newest first; a call a
    click-to-call already reached (answered) is left out."""
    callbacks = list(callbacks)
    latest_click: dict[int, CallbackFact] = {}
    for cb in callbacks:
        if cb.kind == "click_to_call":
            seen = latest_click.get(cb.call_id)
            if seen is None or (cb.requested_at, cb.callback_id) > (seen.requested_at, seen.callback_id):
                latest_click[cb.call_id] = cb
    out: list[Abandoned] = []
    for c in calls:
        kind, wait = classify(c)
        if kind != "abandoned":
            continue
        left = c.ended_at or c.joined_at + timedelta(seconds=wait or 0)
        if not _in(c.joined_at, since, now):
            continue
        out.append(Abandoned("abandoned", c.call_id, left, c.caller_number, c.caller_name, c.vip,
                             c.team, round(wait, 1) if wait is not None else None))
    for cb in callbacks:
        if cb.kind == "callback" and cb.state == "failed" and _in(cb.closed_at, since, now):
            assert cb.closed_at is not None
            waited = _seconds(cb.queue_joined_at, cb.requested_at) if cb.queue_joined_at else None
            out.append(Abandoned("callback_failed", cb.call_id, cb.closed_at, cb.number,
                                 cb.caller_name, cb.vip, cb.team,
                                 round(waited, 1) if waited is not None else None,
                                 callback_id=cb.callback_id, reason=cb.reason))
    result = []
    for a in out:
        click = latest_click.get(a.call_id)
        if click is not None and click.state == "answered":
            continue
        result.append(replace(a, called_back=click.state if click else None))
    result.sort(key=lambda a: (a.at, a.call_id), reverse=True)
    return result
