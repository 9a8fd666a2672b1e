"""GET /metrics of the whole service (`hotline.app.service.Service`) after a call: the real
FastAGI server, IVR, router, CallStore and HTTP app on loopback, with Asterisk played by a
scripted FastAGI peer and the loopback fake AMI. Values are parsed with prometheus_client's
own parser and compared with what the peer saw and what the database holds."""

# ruff: noqa: F811  (fixtures imported from fake_ami are used as test parameters)

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fake_ami import FakeAmi, FakeContact
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import make_url

from hotline.app.metrics_http import address_allowed
from hotline.app.service import Service
from hotline.app.settings import DatabaseSettings, Settings
from hotline.db.base import make_engine, make_sessionmaker
from hotline.db.calls import CallEventRow, CallRow, CallStore
from hotline.db.writes import WriteLost, WriteQueue
from hotline.metrics import Metrics, agi_command_name
from hotline.pbx.agi import KEY_VARIABLE
from hotline.pbx.settings import AsteriskSettings, ServiceSettings
from recordings.settings import RecordingSettings
from tests.support.databases import DbBackend
from tests.support.seeded_db import make_seeded

pytestmark = pytest.mark.component

SEEDED_AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
MARIA = "89161234567"  # VIP; her personal manager is 1001 (demo directory)
UNIQUEID = "1700000000.1"
PLAN = """\
version: 1
name: metrics
timezone: Europe/Moscow
languages: [en]
voice: amy
start: op
operator_node: op
nodes:
  op:
    type: operator
    record: false
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse(text: str) -> Samples:
    """Every sample of a scrape: (name, labels) -> value, by prometheus_client's parser."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A seeded SQLite file (the service under test runs on its own copy)."""
    with make_seeded(DbBackend("sqlite"), tmp_path_factory, "metrics", SEEDED_AT) as seed:
        yield Path(make_url(seed.url).database or "")


@pytest.fixture
async def fake_asterisk_ami() -> AsyncIterator[FakeAmi]:
    ami = FakeAmi(devices={"PJSIP/1001": "NOT_INUSE"}, endpoints=["1001"],
                  contacts=[FakeContact("1001", "sip:1001@127.0.0.1:5061", "Reachable")])
    await ami.start()
    try:
        yield ami
    finally:
        await ami.stop()


@pytest.fixture
async def service(seeded_file: Path, tmp_path: Path,
                  fake_asterisk_ami: FakeAmi) -> AsyncIterator[Service]:
    db = tmp_path / "hotline.db.base"
    db.write_bytes(seeded_file.read_bytes())
    (tmp_path / "plan.yaml").write_text(PLAN)
    ami = fake_asterisk_ami
    settings = Settings(
        mode="demo", var_dir=tmp_path / "var", dialplan=tmp_path / "plan.yaml",
        service=ServiceSettings(agi_port=free_port(), audiosocket_port=free_port(),
                                http_port=free_port()),
        asterisk=AsteriskSettings(root=tmp_path / "root", instance="metrics",
                                  ami_port=ami.port, ami_user=ami.username,
                                  ami_secret=SecretStr(ami.secret)),
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{db}"),
        recordings=RecordingSettings(enabled=False, dir=tmp_path / "rec"),
    )
    svc = Service(settings, with_bot=False)
    await svc.start()
    try:
        await svc.ami.wait_connected(5)
        yield svc
    finally:
        await svc.stop()


async def scrape(svc: Service) -> Samples:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"http://127.0.0.1:{svc.settings.service.http_port}/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


async def until(svc: Service, check: Callable[[Samples], bool], timeout: float = 10) -> Samples:
    async with asyncio.timeout(timeout):
        while not check(samples := await scrape(svc)):
            await asyncio.sleep(0.05)
    return samples


class FakeAsteriskCall:
    """Asterisk's side of one FastAGI session: the environment, the key, then a reply to
    every command; Dial rings 1001 (AMI DialBegin), `during_ring` runs, 1001 answers (DialEnd)."""

    def __init__(self, svc: Service, ami: FakeAmi,
                 during_ring: Callable[[], Awaitable[None]]) -> None:
        self.svc, self.ami, self.during_ring = svc, ami, during_ring
        self.commands: list[str] = []

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.svc.agi.port)
        env = {"agi_network": "yes", "agi_network_script": "call", "agi_uniqueid": UNIQUEID,
               "agi_linkedid": UNIQUEID, "agi_callerid": MARIA,
               "agi_channel": "PJSIP/caller-00000001"}
        writer.write("".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n")
        try:
            while line := (await reader.readline()).decode().rstrip("\n"):
                self.commands.append(line)
                writer.write((await self.reply(line) + "\n").encode())
                await writer.drain()
                if line == "HANGUP":
                    break
        finally:
            writer.close()

    async def reply(self, cmd: str) -> str:
        variables = {KEY_VARIABLE: self.svc.agi_secret, "DIALSTATUS": "ANSWER",
                     "DIALEDPEERNUMBER": "1001", "ANSWEREDTIME": "3"}
        if cmd.startswith("GET VARIABLE "):
            name = cmd[len("GET VARIABLE "):].strip('"')
            return f"200 result=1 ({variables[name]})" if name in variables else "200 result=0"
        if cmd.startswith("EXEC Dial "):
            ring = {"Channel": "PJSIP/caller-00000001", "Uniqueid": UNIQUEID,
                    "DestChannel": "PJSIP/1001-00000002", "DestUniqueid": "1700000000.2"}
            await self.ami.push_event("DialBegin", **ring, DialString="1001")
            await self.during_ring()
            await self.ami.push_event("DialEnd", **ring, DialStatus="ANSWER")
        return "200 result=1" if cmd.startswith(("SET VARIABLE", "HANGUP")) else "200 result=0"


async def test_one_call_moves_the_metrics(service: Service, fake_asterisk_ami: FakeAmi) -> None:
    svc = service
    before = await scrape(svc)
    assert value(before, "hotline_ami_connected") == 1
    assert value(before, "hotline_calls_in_progress") == 0
    assert value(before, "hotline_calls_finished_total", outcome="transferred") == 0
    assert value(before, "hotline_routing_decision_seconds_count") == 0
    assert value(before, "process_resident_memory_bytes") > 0  # the process collector
    async with httpx.AsyncClient() as c:  # a scraper that asks for OpenMetrics gets it
        r = await c.get(f"http://127.0.0.1:{svc.settings.service.http_port}/metrics",
                        headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert r.text.endswith("# EOF\n") and "hotline_calls_finished_total" in r.text

    ringing: list[Samples] = []

    async def during_ring() -> None:  # 1001's phone rings: the caller waits, in a call
        ringing.append(await until(svc, lambda s: value(s, "hotline_callers_waiting", stage="ring") == 1))

    peer = FakeAsteriskCall(svc, fake_asterisk_ami, during_ring)
    await peer.run()
    after = await until(svc, lambda s: value(s, "hotline_calls_finished_total",
                                             outcome="transferred") == 1)

    assert any(c.startswith('EXEC Dial "PJSIP/1001,') for c in peer.commands), peer.commands
    (during,) = ringing
    assert value(during, "hotline_calls_in_progress") == 1
    assert value(during, "hotline_callers_waiting", stage="queue") == 0
    # the call ended as transferred, and only that
    assert value(after, "hotline_calls_in_progress") == 0
    assert {o: value(after, "hotline_calls_finished_total", outcome=o)
            for o in ("completed", "transferred", "transfer_failed", "caller_hung_up", "failed")} \
        == {"completed": 0, "transferred": 1, "transfer_failed": 0, "caller_hung_up": 0, "failed": 0}
    # every timed AGI command the peer answered is one observation, EXEC none
    sent = Counter(n for c in peer.commands if (n := agi_command_name(c)) is not None)
    assert sent["ANSWER"] == 1 and sent["GET VARIABLE"] >= 4  # the key, DIALSTATUS, ...
    for name, n in sent.items():
        assert value(after, "hotline_agi_command_seconds_count", command=name) == n, name
    assert not [k for k in after if k[0] == "hotline_agi_command_seconds_count"
                and ("command", "EXEC") in k[1]]
    # one call set up, one routing decision, one ring seen on AMI, answered; nobody waits
    assert value(after, "hotline_ivr_setup_seconds_count") == 1
    assert value(after, "hotline_routing_decision_seconds_count") == 1
    assert value(after, "hotline_routing_decision_to_ring_seconds_count") == 1
    assert value(after, "hotline_routing_finished_total", outcome="answered") == 1
    assert value(after, "hotline_callers_waiting", stage="ring") == 0
    assert value(after, "hotline_write_behind_queue_depth") == 0
    # the call-record writes, as the database holds them
    async with svc.sessionmaker() as s:
        call = await s.scalar(select(CallRow).where(CallRow.uniqueid == UNIQUEID))
        assert call is not None and call.outcome == "transferred"
        kinds = list((await s.scalars(select(CallEventRow.kind)
                                      .where(CallEventRow.call_id == call.id))).all())
    assert value(after, "hotline_db_write_seconds_count", op="call_started") == 1
    assert value(after, "hotline_db_write_seconds_count", op="call_ended") == 1
    assert value(after, "hotline_db_write_seconds_count", op="call_event") \
        == sum(k.startswith("ivr.") for k in kinds) >= 3  # answered, transfer, its result
    assert value(after, "hotline_db_write_seconds_count", op="call_path") >= 1
    assert sum(v for (n, _), v in after.items() if n == "hotline_db_write_failures_total") == 0
    assert sum(v for (n, _), v in after.items() if n == "hotline_db_writes_lost_total") == 0

    await fake_asterisk_ami.stop()  # Asterisk's AMI goes away
    await until(svc, lambda s: value(s, "hotline_ami_connected") == 0)


async def test_two_services_keep_their_numbers_apart(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/empty.db")  # no tables: writes fail
    try:
        a, b = CallStore(make_sessionmaker(engine)), CallStore(make_sessionmaker(engine))
        with pytest.raises(WriteLost):
            await a.event(1, "x")  # "no such table": permanent, given up at once
        ma, mb = parse(a.metrics.render().decode()), parse(b.metrics.render().decode())
        assert value(ma, "hotline_db_writes_lost_total", op="call_event") == 1
        assert value(ma, "hotline_db_write_seconds_count", op="call_event") == 0
        assert value(mb, "hotline_db_writes_lost_total", op="call_event") == 0
    finally:
        await engine.dispose()


async def test_write_behind_depth_counts_the_queued_writes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/q.db")
    m = Metrics()
    gate = asyncio.Event()
    done: list[int] = []

    async def job(_s: object, n: int) -> None:
        await gate.wait()
        done.append(n)

    try:
        writes = WriteQueue(make_sessionmaker(engine), metrics=m, batch=1)
        futures = [writes.submit(lambda s, n=n: job(s, n), what="call_event") for n in range(3)]
        await asyncio.sleep(0.05)  # the first one has started and waits
        assert value(parse(m.render().decode()), "hotline_write_behind_queue_depth") == 3
        gate.set()
        await asyncio.gather(*futures)
        assert done == [0, 1, 2]
        after = parse(m.render().decode())
        assert value(after, "hotline_write_behind_queue_depth") == 0
        assert value(after, "hotline_db_write_seconds_count", op="call_event") == 3
    finally:
        await engine.dispose()


async def test_metrics_are_refused_outside_the_allowed_addresses(service: Service) -> None:
    from hotline.app.http import create_app

    assert address_allowed("127.0.0.1", svc_allow := service.metrics_allow)
    assert address_allowed("::1", svc_allow) and address_allowed("::ffff:127.0.0.5", svc_allow)
    assert not address_allowed("10.0.0.7", svc_allow) and not address_allowed(None, svc_allow)
    assert not address_allowed("testclient", svc_allow)
    app = create_app(service)
    transport = httpx.ASGITransport(app, client=("192.0.2.10", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://hotline.test") as c:
        r = await c.get("/metrics")
    assert r.status_code == 403
    assert r.json() == {"error_id": "address_not_allowed",
                        "message": "metrics are served only to the addresses in service.metrics_allow",
                        "details": {"address": "192.0.2.10"}}
    assert b"hotline_" not in r.content

