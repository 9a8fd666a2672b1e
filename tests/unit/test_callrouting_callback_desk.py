"""The callback desk's plan for an operator leg, with a fake router: a known caller's personal
manager rings first (as on an incoming call), the phone shows the issue's caller name, the
pool step keeps the caller's priority and the request joins at its place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from callrouting.callback_desk import CallbackDesk, Leg
from callrouting.model import Caller, Directory, Operator, Presence, Role, Team
from callrouting.policy import CallHistory, StepKind
from callrouting.rules import RoutingConfig
from callrouting.tables import CallbackRow
from callrouting.waitroom import WaitingRoom
from hotline.db.calls import CallRow

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
OPS = {1: Operator(1, "Anna", "1001", Role.MANAGER, 1), 2: Operator(2, "Boris", "1002", Role.MANAGER, 1),
       5: Operator(5, "Olga", "1005", Role.TEAM_LEAD, 1)}
DIRECTORY = Directory(operators=OPS, teams={1: Team(1, "Hotline", 5)})
MARIA = Caller(1, "+79161234567", "Maria Ivanova", vip=True, personal_manager_id=1)


class Store:
    async def load_directory(self) -> Directory:
        return DIRECTORY

    async def find_caller(self, number: str | None) -> Caller | None:
        return MARIA if number == MARIA.number else None

    async def history(self, caller: Any, number: Any, *, exclude_call: Any = None) -> CallHistory:
        return CallHistory()


class Presence_:
    def __init__(self, states: dict[str, Presence]):
        self.states = states

    def snapshot(self) -> dict[str, Presence]:
        return self.states


class Router:
    def __init__(self, presence: dict[str, Presence]):
        self.store, self.config, self.waiting = Store(), RoutingConfig(), WaitingRoom()
        self._presence = Presence_(presence)
        self.pool_rule, self.overflow_extensions, self.metrics = None, frozenset(), None

    def presence(self) -> Presence_:
        return self._presence


class Chan:
    uniqueid = "leg-2"

    def __init__(self) -> None:
        self.vars: dict[str, str] = {}

    async def set_variable(self, name: str, value: str) -> None:
        self.vars[name] = value


def desk(presence: dict[str, Presence]) -> CallbackDesk:
    return CallbackDesk(None, Router(presence), lambda: None, None,  # type: ignore[arg-type]
                        pool_queue="hotline-pool", clock=lambda: NOW)


def row(number: str, priority: int, waited_s: float, asked_s_ago: float = 10) -> CallbackRow:
    """A request asked `asked_s_ago` s ago by a caller who had waited `waited_s` s then."""
    asked = NOW - timedelta(seconds=asked_s_ago)
    return CallbackRow(id=3, call_id=9, kind="callback", number=number, queue="hotline-pool",
                       priority=priority, requested_at=asked,
                       queue_joined_at=asked - timedelta(seconds=waited_s), state="pending",
                       attempts=0)


async def test_a_known_callers_callback_rings_her_manager_first_with_the_callback_name() -> None:
    d = desk({"1001": Presence.AVAILABLE, "1002": Presence.IN_USE, "1005": Presence.AVAILABLE})
    chan = Chan()
    plan, _directory, position = await d._plan(chan, Leg(3, "callback", MARIA.number),  # type: ignore[arg-type]
                                               row(MARIA.number, 10, 372),
                                               CallRow(id=9, intent="check_ticket"))
    assert plan.steps[0].reason == "personal_manager" and plan.steps[0].extensions == ("1001",)
    assert plan.display_name == "Callback: VIP Maria Ivanova - ticket check, waited 6 min"
    pool = [s for s in plan.steps if s.kind is StepKind.QUEUE]
    assert pool and pool[-1].priority == 10
    assert chan.vars["CALLERID(num)"] == MARIA.number
    assert position == 1


async def test_an_unknown_callers_callback_joins_behind_those_who_waited_longer() -> None:
    d = desk({"1001": Presence.IN_USE})
    room = d.router.waiting
    room.join("hotline-pool", "later", 0, lambda: (0, 1))  # both joined just now
    room.join("hotline-pool", "vip", 10, lambda: (0, 1))
    plan, _d, position = await d._plan(Chan(), Leg(3, "callback", "+79035550147"),  # type: ignore[arg-type]
                                       row("+79035550147", 0, waited_s=20, asked_s_ago=2), None)
    assert plan.steps[0].kind is StepKind.QUEUE
    assert plan.display_name.startswith("Callback: Unknown")
    assert position == 2  # behind the VIP, ahead of the caller who joined after it


def test_due_requests_count_as_callers_ahead_until_an_operator_takes_them() -> None:
    d = desk({"1001": Presence.IN_USE})
    room = d.router.waiting
    assert room.pending == d.pending_in  # the desk tells the room about its requests
    room.join("hotline-pool", "early", 0, lambda: (0, 1), since=d._mono(NOW - timedelta(seconds=60)))
    room.join("hotline-pool", "late", 0, lambda: (0, 1))
    # a request whose caller joined 30 s ago, stored and due (the dispatcher's view)
    d._due[3] = ("hotline-pool", 0, NOW - timedelta(seconds=30))
    d._due[4] = ("other-queue", 0, NOW - timedelta(seconds=90))
    assert [room.position(k) for k in ("early", "late")] == [1, 3]
    # placed: its Local channel joins at its caller's place, and is counted once
    room.join("hotline-pool", "leg-2", 0, lambda: (0, 1),
              since=d._mono(NOW - timedelta(seconds=30)), callback=3)
    assert [room.position(k) for k in ("early", "leg-2", "late")] == [1, 2, 3]
    assert room.waiting_count("hotline-pool") == 3
    leg = Leg(3, "callback", "+79035550147")
    d._operator_answered(leg, "1001")
    room.answered("leg-2")
    assert room.position("late") == 2 and 3 not in d._due and 4 in d._due


def test_a_desk_that_cannot_place_callbacks_counts_none_ahead() -> None:
    router = Router({})
    CallbackDesk(None, router, lambda: None, None, pool_queue="hotline-pool",  # type: ignore[arg-type]
                 enabled=False, clock=lambda: NOW)
    assert router.waiting.pending is None  # requests stay pending forever: nobody is behind them
