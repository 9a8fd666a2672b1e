"""The dial executor against a scripted fake AGI channel: commands sent, outcomes fed back to
the policy, presence re-checked between steps, attempts and review flags recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from callrouting.executor import RoutingExecutor, extension_of_channel
from callrouting.model import Caller, Directory, Operator, Presence, Role, Team
from callrouting.policy import CallContext, CallHistory, Outcome, plan_call
from callrouting.rules import RingSettings, RoutingConfig
from hotline.db.writes import RowRef
from hotline.pbx.agi import AgiHangup

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OPS = {
    1: Operator(1, "Anna", "1001", Role.MANAGER, 1, (2, 3)),
    2: Operator(2, "Boris", "1002", Role.MANAGER, 1, (1, 3)),
    3: Operator(3, "Viktor", "1003", Role.MANAGER, 1, ()),
    5: Operator(5, "Olga", "1005", Role.TEAM_LEAD, 1, ()),
}
DIRECTORY = Directory(operators=OPS, teams={1: Team(1, "Hotline", 5)})
MARIA = Caller(1, "+79161234567", 'Maria "Ivanova"', vip=True, personal_manager_id=1)
CONFIG = RoutingConfig(defaults=RingSettings(manager_ring_seconds=5, backups_ring_seconds=6,
                                             team_lead_ring_seconds=7))


class FakeChan:
    """Each Dial/Queue pops a scripted result: the channel variables it sets, or "hangup".
    Variables persist on the channel, as in Asterisk; SET VARIABLE changes them."""

    def __init__(self, results: list[Any], presence: FakePresence | None = None,
                 changes: list[dict[str, Presence]] | None = None):
        self.results, self.sent = list(results), []  # type: ignore[var-annotated]
        self.vars: dict[str, str] = {}
        self.hung_up = False
        self.uniqueid = "u-1"
        self.env = {"agi_uniqueid": "u-1"}
        self.presence, self.changes = presence, list(changes or [])

    async def set_variable(self, name: str, value: str) -> None:
        self.sent.append(("SET", name, value))
        self.vars[name] = value

    async def get_variable(self, name: str) -> str | None:
        return self.vars.get(name)

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> None:
        self.sent.append(("EXEC", app, args))
        result = self.results.pop(0)
        if self.presence is not None and self.changes:
            self.presence.states.update(self.changes.pop(0))
        if result == "hangup":
            self.hung_up = True
            raise AgiHangup("caller hung up")
        self.vars.update(result)


class FakePresence:
    def __init__(self, states: dict[str, Presence]):
        self.states = states

    def snapshot(self) -> dict[str, Presence]:
        return dict(self.states)


class FakeStore:
    """RoutingStore's write side as the executor sees it: calls that queue and return at once."""

    def __init__(self) -> None:
        self.attempts: list[dict[str, Any]] = []
        self.reviews: list[str] = []
        self.answered: list[int | None] = []
        self.joined: list[datetime] = []
        self.waited: list[int] = []  # queue_wait_ms written, in order

    def queue_joined(self, call_id: int, at: datetime) -> None:
        self.joined.append(at)

    def queue_waited(self, call_id: int, wait_ms: int) -> None:
        self.waited.append(wait_ms)

    def add_attempt(self, call_id: int, **kw: Any) -> RowRef:
        self.attempts.append(dict(kw))
        return RowRef("attempt", len(self.attempts))

    def finish_attempt(self, attempt_id: RowRef, **kw: Any) -> None:
        self.attempts[attempt_id.require() - 1].update(kw)

    def mark_answered(self, call_id: int, operator_id: int | None, at: datetime) -> None:
        self.answered.append(operator_id)

    def flag_review(self, call_id: int, reason: str, at: datetime) -> None:
        self.reviews.append(reason)


def _plan(presence: dict[int, Presence]):  # type: ignore[no-untyped-def]
    return plan_call(caller=MARIA, directory=DIRECTORY, presence=presence, history=CallHistory(),
                     context=CallContext(topic="ticket check"), config=CONFIG, now=NOW)


def _executor(chan: FakeChan, plan, presence=None, store=None):  # type: ignore[no-untyped-def]
    return RoutingExecutor(chan, plan, call_id=7, directory=DIRECTORY, store=store,  # type: ignore[arg-type]
                           presence=presence, clock=lambda: NOW)


NOANSWER = {"DIALSTATUS": "NOANSWER"}


async def test_chain_to_lead_dial_strings_display_name_and_review() -> None:
    chan = FakeChan([NOANSWER, NOANSWER,
                     {"DIALSTATUS": "ANSWER", "DIALEDPEERNUMBER": "1005", "ANSWEREDTIME": "30"}])
    store = FakeStore()
    result = await _executor(chan, _plan({}), store=store).run()
    dials = [c[2] for c in chan.sent if c[0] == "EXEC"]
    assert dials == ["PJSIP/1001,5,g", "PJSIP/1001&PJSIP/1002&PJSIP/1003,6,g", "PJSIP/1005,7,g"]
    names = [c[2] for c in chan.sent if c[:2] == ("SET", "CALLERID(name)")]
    assert names == ["VIP Maria Ivanova - ticket check"] * 3  # quotes stripped by the policy
    assert result.outcome == "answered" and result.answered_by == OPS[5]
    assert [a.outcome for a in result.attempts] == [Outcome.NO_ANSWER] * 2 + [Outcome.ANSWERED]
    assert store.reviews == ["no_answer"] and store.answered == [5]
    assert [a["outcome"] for a in store.attempts] == ["no_answer", "no_answer", "answered"]
    assert store.attempts[1]["targets"] == ("1001", "1002", "1003")


async def test_presence_rechecked_between_steps_and_pool_priority() -> None:
    presence = FakePresence({e: Presence.AVAILABLE for e in ("1001", "1002", "1003", "1005")})
    # while the manager rings, both backups and the lead get busy in other calls
    chan = FakeChan([NOANSWER, NOANSWER, {"QUEUESTATUS": "", "MEMBERINTERFACE": "PJSIP/1003"}],
                    presence, changes=[{"1002": Presence.IN_USE, "1003": Presence.IN_USE,
                                        "1005": Presence.IN_USE}])
    store = FakeStore()
    result = await _executor(chan, _plan({}), presence, store).run()
    execs = [c[1:] for c in chan.sent if c[0] == "EXEC"]
    assert execs == [("Dial", "PJSIP/1001,5,g"), ("Dial", "PJSIP/1001,6,g"),
                     ("Queue", "hotline-pool,cR,,,")]
    assert ("SET", "QUEUE_PRIO", "10") in chan.sent  # VIP
    assert result.answered_by == OPS[3]
    assert store.reviews == ["no_answer"]  # the skipped lead's flag passes to the pool


async def test_queue_answer_without_ami_or_member_variable() -> None:
    """No AMI (no AgentConnect) and no MEMBERINTERFACE: with option c, QUEUESTATUS=CONTINUE
    alone says a member answered and the conversation ended; the talk time gives the moment."""
    chan = FakeChan([NOANSWER, NOANSWER, NOANSWER,
                     {"QUEUESTATUS": "CONTINUE", "ANSWEREDTIME_MS": "12000"}])
    store = FakeStore()
    result = await _executor(chan, _plan({}), store=store).run()
    assert [a.outcome for a in result.attempts][-1] is Outcome.ANSWERED
    assert result.outcome == "answered" and result.answered_by is None
    assert store.answered == [None] and store.attempts[-1]["outcome"] == "answered"


async def test_caller_hangs_up_while_ringing() -> None:
    chan = FakeChan(["hangup"])
    result = await _executor(chan, _plan({})).run()
    assert result.outcome == "failed"
    assert [a.outcome for a in result.attempts] == [Outcome.CALLER_HUNG_UP]


async def test_busy_manager_is_not_rung() -> None:
    chan = FakeChan([{"DIALSTATUS": "ANSWER", "DIALEDPEERNUMBER": "1002"}])
    result = await _executor(chan, _plan({1: Presence.IN_USE})).run()
    assert [c[2] for c in chan.sent if c[0] == "EXEC"] == ["PJSIP/1002&PJSIP/1003,6,g"]
    assert result.answered_by == OPS[2]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class TimedChan(FakeChan):
    """Each Dial/Queue takes the next of `seconds` on the clock before it returns."""

    def __init__(self, results: list[Any], seconds: list[float], clock: Clock):
        super().__init__(results)
        self.seconds, self.clock = list(seconds), clock

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> None:
        self.clock.now += timedelta(seconds=self.seconds.pop(0))
        await super().exec(app, args, timeout)


def _pool_executor(chan: FakeChan, store: FakeStore, clock: Any) -> RoutingExecutor:
    from callrouting.waitroom import WaitingRoom

    plan = _plan({o: Presence.IN_USE for o in OPS})  # everybody busy: straight to the pool
    return RoutingExecutor(chan, plan, call_id=7, directory=DIRECTORY, store=store,  # type: ignore[arg-type]
                           presence=None, clock=clock, waiting=WaitingRoom())


async def test_queue_wait_is_stored_when_the_caller_hangs_up_waiting() -> None:
    """Abandoned: joined when the queue step starts, the wait up to Queue's return."""
    clock = Clock()
    chan, store = TimedChan(["hangup"], [7.5], clock), FakeStore()
    result = await _pool_executor(chan, store, clock).run()
    assert [a.outcome for a in result.attempts] == [Outcome.CALLER_HUNG_UP]
    assert store.joined == [NOW]
    assert store.waited == [7500]
    assert store.answered == []


async def test_queue_wait_ends_at_the_answer_and_adds_up_over_queue_steps() -> None:
    """A queue step that times out puts the caller back: the wait goes on adding up; an
    answer ends it at the moment of the answer (end less the talk time)."""
    clock = Clock()
    chan = TimedChan([{"QUEUESTATUS": "TIMEOUT"},
                      {"QUEUESTATUS": "CONTINUE", "MEMBERINTERFACE": "PJSIP/1002",
                       "ANSWEREDTIME_MS": "4000"}], [10, 10], clock)
    store = FakeStore()
    result = await _pool_executor(chan, store, clock).run()
    assert result.answered_by == OPS[2]
    # step 1: joined at 0, timed out at +10 (10 s); step 2: joined at +10, Queue returned at
    # +20 after 4 s of talk: answered at +16 (6 s); in all 16 s. The row keeps the first join.
    assert store.joined == [NOW, NOW + timedelta(seconds=10)]
    assert store.waited == [10000, 16000]


def test_extension_of_channel() -> None:
    assert extension_of_channel("PJSIP/1002-0000001a") == "1002"
    assert extension_of_channel("PJSIP/1002") == "1002"
    assert extension_of_channel("junk") is None
