"""The executor with the callback offer, against a fake AGI channel and a fake AMI: the
caller's keys (DTMFEnd), the whispered confirmation, the withdraw only after the confirmation,
the request stored with the caller's place, the goodbye, and the step's outcome.  The real
thing runs in tests/e2e/test_callrouting_callbacks.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from callrouting.events import CallbackOffer, WaitAnnouncer
from callrouting.executor import RoutingExecutor
from callrouting.model import Directory
from callrouting.policy import Outcome, RingPlan, RingStep, StepKind
from callrouting.waitroom import WaitingRoom
from hotline.pbx.agi import AgiHangup
from hotline.pbx.ami import DTMFEnd, QueueCallerJoin

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class FakeAmi:
    connected = True

    def __init__(self) -> None:
        self.subs: dict[type, list[Any]] = {}

    def subscribe(self, event_type: type, callback: Any) -> Any:
        self.subs.setdefault(event_type, []).append(callback)
        return lambda: self.subs[event_type].remove(callback)

    def emit(self, event_type: type, **fields: Any) -> None:
        for cb in list(self.subs.get(event_type, [])):
            cb(SimpleNamespace(**fields))


class QueueChan:
    """Queue() waits until the caller is withdrawn (then QUEUESTATUS=WITHDRAW)."""

    def __init__(self, hang_up: bool = False) -> None:
        self.hang_up = hang_up  # the caller hangs up as soon as they confirmed
        self.vars: dict[str, str] = {}
        self.sent: list[tuple[str, ...]] = []
        self.hung_up = False
        self.uniqueid = "u-1"
        self.env = {"agi_uniqueid": "u-1", "agi_channel": "PJSIP/test-caller-00000001"}
        self.withdrawn = asyncio.Event()

    async def set_variable(self, name: str, value: str) -> None:
        self.vars[name] = value

    async def get_variable(self, name: str) -> str | None:
        return self.vars.get(name)

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> None:
        self.sent.append(("EXEC", app, args))
        await self.withdrawn.wait()
        if self.hang_up:
            self.hung_up = True
            raise AgiHangup("caller hung up")
        self.vars["QUEUESTATUS"] = "WITHDRAW"

    async def stream_file(self, name: str, escape: str = "") -> None:
        self.sent.append(("STREAM", name))


class Whisper:
    def __init__(self) -> None:
        self.said: list[str] = []
        self.stopped = 0

    async def say(self, channel: str, sound: str) -> bool:
        self.said.append(sound)
        return True

    async def stop(self, channel: str) -> None:
        self.stopped += 1


class Intake:
    def __init__(self, chan: QueueChan) -> None:
        self.chan = chan
        self.withdrawals: list[tuple[str, str]] = []
        self.requests: list[dict[str, Any]] = []

    async def withdraw(self, queue: str, channel: str) -> bool:
        self.withdrawals.append((queue, channel))
        self.chan.withdrawn.set()
        return True

    async def requested(self, **kw: Any) -> int:
        self.requests.append(kw)
        return 1


class Listener:
    """A QueueListener whose caller says `words` (one each time the test releases it)."""

    def __init__(self) -> None:
        self.words: asyncio.Queue[str] = asyncio.Queue()
        self.channels: list[str] = []
        self.closed = asyncio.Event()

    async def listen(self, channel: str):  # type: ignore[no-untyped-def]
        self.channels.append(channel)
        try:
            while True:
                yield await self.words.get()
        finally:
            self.closed.set()


async def run_offer(keys: list[str], caller_number: str | None = "+79161234567",  # type: ignore[no-untyped-def]
                    hang_up: bool = False, words: list[str] = (),  # type: ignore[assignment]
                    listener: Listener | None = None, listen: bool = True):
    chan, ami, whisper = QueueChan(hang_up), FakeAmi(), Whisper()
    chan.ami = ami  # type: ignore[attr-defined]
    intake = Intake(chan)
    calls = []

    def clock() -> datetime:  # the step starts at NOW; later readings are 40 s on
        calls.append(1)
        return NOW if len(calls) == 1 else NOW + timedelta(seconds=40)

    async def sound(text: str) -> str:
        return f"sound:{text}"

    offer = CallbackOffer(key="1", operator_key="0", timeout=5, listen=listen,
                          confirm=lambda n: f"confirm {n}", goodbye=lambda n: f"goodbye {n}")
    announcer = WaitAnnouncer(interval=1000, text=lambda e: f"place {e.position}", sound=sound,
                              callback=offer)
    step = RingStep(0, StepKind.QUEUE, "pool", queue="hotline-pool", priority=10)
    plan = RingPlan((step,), "VIP Maria", 1, NOW)
    executor = RoutingExecutor(
        chan, plan, call_id=7, directory=Directory(), store=None, presence=None,  # type: ignore[arg-type]
        ami=ami, clock=clock, waiting=WaitingRoom(whisper=whisper),  # type: ignore[arg-type]
        announcer=announcer, callbacks=intake, caller_number=caller_number, listener=listener)
    task = asyncio.create_task(executor.run())
    while DTMFEnd not in ami.subs:
        await asyncio.sleep(0)
    ami.emit(QueueCallerJoin, uniqueid="u-1")
    for key in keys:
        await asyncio.sleep(0.01)
        ami.emit(DTMFEnd, uniqueid="u-1", digit=key, direction="Received")
        ami.emit(DTMFEnd, uniqueid="u-2", digit=key, direction="Received")  # another caller
    for word in words:
        await asyncio.sleep(0.01)
        assert listener is not None
        listener.words.put_nowait(word)
    await asyncio.sleep(0.05)
    return task, chan, whisper, intake


async def test_key_confirm_withdraws_stores_the_place_and_says_goodbye() -> None:
    task, chan, whisper, intake = await run_offer(["1", "1"])
    result = await asyncio.wait_for(task, 5)
    assert "sound:confirm +79161234567" in whisper.said and whisper.stopped >= 1
    assert intake.withdrawals == [("hotline-pool", "PJSIP/test-caller-00000001")]
    [req] = intake.requests
    assert req["number"] == "+79161234567" and req["priority"] == 10 and req["call_id"] == 7
    assert req["joined_at"] == NOW and req["requested_at"] > req["joined_at"]
    assert ("STREAM", "sound:goodbye +79161234567") in chan.sent
    assert [a.outcome for a in result.attempts] == [Outcome.CALLBACK]


async def test_a_keyed_number_is_the_one_called_back() -> None:
    task, _chan, _whisper, intake = await run_offer(["1", *"89031234567", "#"])
    await asyncio.wait_for(task, 5)
    assert [r["number"] for r in intake.requests] == ["89031234567"]


async def test_the_operator_key_keeps_the_caller_waiting_in_the_queue() -> None:
    task, chan, whisper, intake = await run_offer(["1", "0", "5"])
    try:
        assert not task.done() and intake.withdrawals == [] and intake.requests == []
        assert "sound:confirm +79161234567" in whisper.said
        assert [s for s in chan.sent if s[0] == "EXEC"] == [
            ("EXEC", "Queue", "hotline-pool,cR,,,")]  # one Queue(), never left
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_caller_who_hangs_up_right_after_confirming_keeps_the_request() -> None:
    task, chan, _whisper, intake = await run_offer(["1", "1"], hang_up=True)
    result = await asyncio.wait_for(task, 5)
    assert [r["number"] for r in intake.requests] == ["+79161234567"]
    assert not any(s[0] == "STREAM" for s in chan.sent)  # nobody left to hear the goodbye
    assert [a.outcome for a in result.attempts] == [Outcome.CALLBACK]


async def test_saying_call_me_back_then_yes_is_the_key_twice() -> None:
    listener = Listener()
    task, chan, whisper, intake = await run_offer([], words=["callback", "yes"], listener=listener)
    result = await asyncio.wait_for(task, 5)
    assert listener.channels == ["PJSIP/test-caller-00000001"]
    assert "sound:confirm +79161234567" in whisper.said
    assert [r["number"] for r in intake.requests] == ["+79161234567"]
    assert [a.outcome for a in result.attempts] == [Outcome.CALLBACK]
    assert listener.closed.is_set()  # the listener ends with the offer


async def test_saying_call_me_back_then_confirming_by_key() -> None:
    listener = Listener()
    task, chan, whisper, intake = await run_offer([], words=["callback"], listener=listener)
    assert "sound:confirm +79161234567" in whisper.said and intake.requests == []
    chan.ami.emit(DTMFEnd, uniqueid="u-1", digit="1", direction="Received")  # the key confirms
    result = await asyncio.wait_for(task, 5)
    assert [r["number"] for r in intake.requests] == ["+79161234567"]
    assert [a.outcome for a in result.attempts] == [Outcome.CALLBACK]


async def test_saying_operator_or_no_in_the_prompts_keeps_the_caller_waiting() -> None:
    for word in ("operator", "no"):
        listener = Listener()
        task, chan, whisper, intake = await run_offer([], words=["callback", word, "yes"],
                                                      listener=listener)
        try:
            await asyncio.sleep(0.05)
            # back to waiting: "yes" after that is nothing, no request, still in Queue()
            assert not task.done() and intake.withdrawals == [] and intake.requests == []
            assert "sound:confirm +79161234567" in whisper.said
            assert [s for s in chan.sent if s[0] == "EXEC"] == [("EXEC", "Queue", "hotline-pool,cR,,,")]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert listener.closed.is_set()


async def test_without_listen_in_the_dialplan_nobody_listens() -> None:
    listener = Listener()
    task, _chan, _whisper, intake = await run_offer(["1", "1"], listener=listener, listen=False)
    await asyncio.wait_for(task, 5)
    assert listener.channels == [] and [r["number"] for r in intake.requests] == ["+79161234567"]
