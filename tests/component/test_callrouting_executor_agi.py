"""The dial executor over a real FastAGI connection while AMI is down: the outcome of each
step comes from the channel variables Asterisk leaves after Dial/Queue (read with GET
VARIABLE), not from DialEnd/AgentConnect events, which never arrive.

The FastAGI peer plays Asterisk 22.10's side of the wire: channel variables that SET VARIABLE
changes and GET VARIABLE reads (`200 result=1 (value)`, `200 result=0` when unset), EXEC
replies `200 result=<app's return>`, and, on a hang-up with AGIEXITONHANGUP, `HANGUP` and the
socket closed.  The AmiClient is a real one whose fake AMI has gone away (a cut link).
"""

# ruff: noqa: F811  (fixtures imported from fake_ami are used as test parameters)

from __future__ import annotations

import asyncio
import random
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from fake_ami import FakeAmi, fake_ami, no_leaked_tasks  # noqa: F401 (fixtures)

from callrouting.executor import RoutingExecutor
from callrouting.model import Directory, Operator, Role
from callrouting.policy import Outcome, RingPlan, RingStep, RingTarget, StepKind
from hotline.db.writes import RowRef
from hotline.pbx.agi import AgiChannel
from hotline.pbx.ami import AgentConnect, AmiClient, Backoff

pytestmark = pytest.mark.component

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
OPS = {i: Operator(i, f"op{i}", f"100{i}", Role.MANAGER, 1) for i in (1, 2, 3)}
DIRECTORY = Directory(operators=OPS)
ENV = b"agi_network: yes\nagi_network_script: call\nagi_uniqueid: 1764676800.7\n\n"

# What an application does on the channel: the variables it sets and what EXEC returns;
# hang_up: the caller hangs up as it returns (the session then ends, AGIEXITONHANGUP).
@dataclass
class AppRun:
    sets: dict[str, str]
    result: int = 0
    hang_up: bool = False
    meanwhile: Callable[[], Awaitable[None]] | None = None  # while the app runs (AMI events)


@dataclass
class AsteriskAgiPeer:
    """The Asterisk end of one FastAGI session, scripted per EXEC."""

    runs: list[AppRun]
    variables: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(ENV)
        await writer.drain()
        while line := (await reader.readline()).decode():
            self.commands.append(line.rstrip("\n"))
            words = shlex.split(line)
            if words[:2] == ["SET", "VARIABLE"]:
                self.variables[words[2]] = words[3]
                writer.write(b"200 result=1\n")
            elif words[:2] == ["GET", "VARIABLE"]:
                value = self.variables.get(words[2])
                writer.write(b"200 result=0\n" if value is None
                             else f"200 result=1 ({value})\n".encode())
            elif words[0] == "EXEC":
                run = self.runs.pop(0)
                if run.meanwhile is not None:
                    await run.meanwhile()
                self.variables.update(run.sets)
                writer.write(f"200 result={run.result}\n".encode())
                if run.hang_up:  # AGISIGHUP's notice, then AGIEXITONHANGUP ends the session
                    writer.write(b"HANGUP\n")
                    await writer.drain()
                    writer.close()
                    return
            else:
                writer.write(b"510 Invalid or unknown command\n")
            await writer.drain()
        writer.close()


class Store:
    """RoutingStore's write side as the executor uses it."""

    def __init__(self) -> None:
        self.attempts: list[dict[str, object]] = []
        self.answered: list[tuple[int | None, datetime]] = []
        self.queue: list[tuple[str, object]] = []  # ("joined", at) / ("waited", ms)

    def queue_joined(self, call_id: int, at: datetime) -> None:
        self.queue.append(("joined", at))

    def queue_waited(self, call_id: int, wait_ms: int) -> None:
        self.queue.append(("waited", wait_ms))

    def add_attempt(self, call_id: int, **kw: object) -> RowRef:
        self.attempts.append(dict(kw))
        return RowRef("attempt", len(self.attempts))

    def finish_attempt(self, ref: RowRef, **kw: object) -> None:
        self.attempts[ref.require() - 1].update(kw)

    def mark_answered(self, call_id: int, operator_id: int | None, at: datetime) -> None:
        self.answered.append((operator_id, at))

    def flag_review(self, call_id: int, reason: str, at: datetime) -> None:
        pass


@pytest.fixture
async def ami_down(no_leaked_tasks, fake_ami: FakeAmi) -> AsyncIterator[AmiClient]:
    """A real AmiClient that was connected, then lost its AMI (the server is gone)."""
    client = AmiClient(fake_ami.host, fake_ami.port, fake_ami.username, fake_ami.secret,
                       backoff=Backoff(0.02, 0.1, rng=random.Random(3)))
    await client.start()
    await client.wait_connected(5)
    await fake_ami.stop()
    async with asyncio.timeout(5):
        while client.connected:
            await asyncio.sleep(0.01)
    try:
        yield client
    finally:
        await client.stop()


async def route(peer: AsteriskAgiPeer, steps: list[RingStep], ami: AmiClient | None,
                store: Store, clock: Callable[[], datetime] = lambda: NOW):  # type: ignore[no-untyped-def]
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    try:
        chan = AgiChannel(reader, writer)
        await chan.read_env()
        plan = RingPlan(steps=tuple(steps), display_name="Caller - ticket check", caller_id=None,
                        created_at=NOW)
        result = await RoutingExecutor(chan, plan, call_id=7, directory=DIRECTORY,
                                       store=store, presence=None, ami=ami,  # type: ignore[arg-type]
                                       clock=clock).run()
        return result, chan
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def pool(index: int = 0) -> RingStep:
    return RingStep(index=index, kind=StepKind.QUEUE, reason="pool", queue="hotline-pool",
                    timeout=None, priority=0)


def ring(index: int, *exts: str, timeout: int = 10) -> RingStep:
    by_ext = {op.extension: op.id for op in OPS.values()}
    return RingStep(index=index, kind=StepKind.RING, reason="backups", timeout=timeout,
                    targets=tuple(RingTarget(by_ext[e], e) for e in exts))


async def test_queue_answered_and_the_operator_hung_up_is_seen_without_ami(
    ami_down: AmiClient,
) -> None:
    """The AMI-cut case: Queue (option c) returns after the operator hangs up; no
    AgentConnect ever came. The answer, who and when come from the channel's variables,
    and the session is still alive for the rating."""
    peer = AsteriskAgiPeer([AppRun({"QUEUESTATUS": "CONTINUE", "MEMBERINTERFACE": "PJSIP/1003",
                                    "MEMBERNAME": "op3", "ANSWEREDTIME": "8",
                                    "ANSWEREDTIME_MS": "8250"})])
    store = Store()
    result, chan = await route(peer, [pool()], ami_down, store)
    assert result.outcome == "answered" and result.answered_by == OPS[3]
    assert [a.outcome for a in result.attempts] == [Outcome.ANSWERED]
    assert store.attempts[0]["outcome"] == "answered" and store.attempts[0]["answered_by_id"] == 3
    assert store.answered == [(3, NOW - timedelta(milliseconds=8250))]
    assert 'EXEC Queue "hotline-pool,cR,,,"' in peer.commands
    assert not chan.hung_up  # the IVR goes on to the rating, not to a menu


async def test_a_stale_member_from_an_earlier_transfer_is_not_an_answer(
    ami_down: AmiClient,
) -> None:
    """MEMBERINTERFACE outlives the Queue that set it (here 1001, from an earlier transfer in
    this call): the executor clears it before each queue step, so a wait that times out is
    no answer, and the next wait's answer is the one who really answered."""
    peer = AsteriskAgiPeer([AppRun({"QUEUESTATUS": "TIMEOUT", "ANSWEREDTIME_MS": "0"}),
                            AppRun({"QUEUESTATUS": "CONTINUE", "MEMBERINTERFACE": "PJSIP/1002",
                                    "ANSWEREDTIME_MS": "5000"})],
                           variables={"MEMBERINTERFACE": "PJSIP/1001", "MEMBERNAME": "op1"})
    store = Store()
    step = RingStep(index=0, kind=StepKind.QUEUE, reason="pool", queue="hotline-pool",
                    timeout=30, priority=0)
    result, _ = await route(peer, [step], ami_down, store)
    assert [a.outcome for a in result.attempts] == [Outcome.NO_ANSWER, Outcome.ANSWERED]
    assert result.answered_by == OPS[2] and [op for op, _ in store.answered] == [2]
    execs = [i for i, c in enumerate(peer.commands) if c.startswith("EXEC Queue")]
    clears = [i for i, c in enumerate(peer.commands) if c == 'SET VARIABLE MEMBERINTERFACE ""']
    assert len(execs) == len(clears) == 2 and all(c < e for c, e in zip(clears, execs, strict=True))
    assert 'EXEC Queue "hotline-pool,cR,,,30"' in peer.commands


async def test_dial_answered_is_seen_without_ami(ami_down: AmiClient) -> None:
    """Dial (option g) to two phones, 1002 answers and later hangs up: DIALSTATUS and
    DIALEDPEERNUMBER say so with no DialEnd event."""
    peer = AsteriskAgiPeer([AppRun({"DIALSTATUS": "ANSWER", "DIALEDPEERNUMBER": "1002",
                                    "DIALEDPEERNAME": "PJSIP/1002-0000001a",
                                    "ANSWEREDTIME_MS": "31000"})])
    store = Store()
    result, chan = await route(peer, [ring(0, "1001", "1002")], ami_down, store)
    assert result.outcome == "answered" and result.answered_by == OPS[2]
    assert store.answered == [(2, NOW - timedelta(seconds=31))]
    assert 'EXEC Dial "PJSIP/1001&PJSIP/1002,10,g"' in peer.commands
    assert not chan.hung_up


async def test_no_answer_then_queue_answered_without_ami(ami_down: AmiClient) -> None:
    """Each step's outcome from its own variables: a ring nobody answers, then the pool."""
    peer = AsteriskAgiPeer([
        AppRun({"DIALSTATUS": "NOANSWER", "ANSWEREDTIME_MS": ""}),
        AppRun({"QUEUESTATUS": "CONTINUE", "MEMBERINTERFACE": "PJSIP/1001",
                "ANSWEREDTIME_MS": "4000"}),
    ])
    store = Store()
    result, _ = await route(peer, [ring(0, "1002"), pool(1)], ami_down, store)
    assert [a.outcome for a in result.attempts] == [Outcome.NO_ANSWER, Outcome.ANSWERED]
    assert result.answered_by == OPS[1]
    assert [a["outcome"] for a in store.attempts] == ["no_answer", "answered"]


async def test_caller_gone_while_waiting_in_the_queue(ami_down: AmiClient) -> None:
    """Queue returns -1 (nobody answered, the caller hung up) and the session ends."""
    peer = AsteriskAgiPeer([AppRun({}, result=-1, hang_up=True)])
    store = Store()
    result, chan = await route(peer, [pool()], ami_down, store)
    assert result.outcome == "failed"
    assert [a.outcome for a in result.attempts] == [Outcome.CALLER_HUNG_UP]
    assert store.answered == [] and chan.hung_up


async def test_caller_ends_the_conversation_with_ami_up(no_leaked_tasks, fake_ami: FakeAmi) -> None:
    """The caller hangs up while talking: Queue (c) returns 0, then the session ends before
    GET VARIABLE is answered. AMI's AgentConnect is the only witness, and it is used."""
    client = AmiClient(fake_ami.host, fake_ami.port, fake_ami.username, fake_ami.secret,
                       backoff=Backoff(0.02, 0.1, rng=random.Random(4)))
    await client.start()
    try:
        await client.wait_connected(5)
        seen = asyncio.Event()
        client.subscribe(AgentConnect, lambda ev: seen.set())

        async def member_answers() -> None:
            await fake_ami.push_event("AgentConnect", Channel="PJSIP/caller-00000001",
                                      Uniqueid="1764676800.7", Queue="hotline-pool",
                                      Interface="PJSIP/1002", DestChannel="PJSIP/1002-00000002")
            await asyncio.wait_for(seen.wait(), 5)

        peer = AsteriskAgiPeer([AppRun({"QUEUESTATUS": "CONTINUE", "MEMBERINTERFACE": "PJSIP/1002"},
                                       hang_up=True, meanwhile=member_answers)])
        store = Store()
        result, chan = await route(peer, [pool()], client, store)
    finally:
        await client.stop()
    assert chan.hung_up
    assert result.outcome == "answered" and result.answered_by == OPS[2]
    assert [op for op, _ in store.answered] == [2]


async def test_caller_ends_the_conversation_while_ami_is_down(ami_down: AmiClient) -> None:
    """Nothing can tell then (AGIEXITONHANGUP ends the session before the variables are read,
    no event arrives): the step is the caller's hang-up, and routing stops without retrying."""
    peer = AsteriskAgiPeer([AppRun({"QUEUESTATUS": "CONTINUE", "MEMBERINTERFACE": "PJSIP/1002"},
                                   hang_up=True)])
    store = Store()
    result, chan = await route(peer, [pool()], ami_down, store)
    assert chan.hung_up and result.outcome == "failed"
    assert [a.outcome for a in result.attempts] == [Outcome.CALLER_HUNG_UP]
    assert [c for c in peer.commands if c.startswith("EXEC")] == ['EXEC Queue "hotline-pool,cR,,,"']
