"""Restarts and crashes lose nothing, on the real Asterisk with sipp callers and operators.

The service runs as its own process (`tests.e2e.service_process --ivr`: the IVR on a small
dialplan, routing, the voice bot) so that it can be killed for real. Asterisk's records (the
CDR file it writes itself) are the witness of what happened to each caller; each test
prints its figures (calls placed, reached a human, rows reconciled).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from callrouting.tables import CallAttemptRow
from directory.tables import OperatorRow
from hotline.app.settings import Settings
from hotline.db.base import make_engine, make_sessionmaker
from hotline.db.calls import CallRow
from hotline.pbx.asterisk import AsteriskInstance
from hotline.pbx.cdr import Cdr, CdrLog
from hotline.pbx.sipp import CallResult, Dtmf, Pause, Step, place_call, sipp_available
from tests.e2e.peers import SippOperator
from tests.e2e.service_process import ServiceProcess

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")

DIALPLAN = """\
version: 1
name: restart-test
timezone: UTC
languages: [en]
voice: en_US-lessac-medium
operator_key: "0"
operator_node: operator
start: menu
nodes:
  menu:
    type: menu
    prompt: {say: {en: "For the voice assistant, press 1. For an operator, press 2."}}
    options: {1: assistant, 2: operator}
    timeout: 10
    retries: 9
    no_input_prompt: {say: {en: "I did not hear a choice."}}
  assistant:
    type: bot
    prompt: {say: {en: "Connecting you to our voice assistant."}}
    topic: general
    next: menu
  operator:
    type: operator
    prompt: {say: {en: "Connecting you to an operator."}}
    reason: caller_request
    on_failure: menu
"""
OPERATORS = [(f"100{i}", f"demo-pass-100{i}") for i in range(1, 8)]  # the demo directory
IVR: list[Step] = []  # stays in the menu (it repeats for minutes)
BOT: list[Step] = [Pause(1500), Dtmf("1")]
TO_OPERATOR: list[Step] = [Pause(1500), Dtmf("2")]
TALK_S = 12  # an operator's conversation in the kill test


def settings_for(e2e: Settings, tmp: Path, **service: object) -> Settings:
    dp = tmp / "dialplan.yaml"
    dp.write_text(DIALPLAN)
    return e2e.model_copy(update={
        "dialplan": dp,
        "bot": e2e.bot.model_copy(update={"asr_engine": "pocketsphinx"}),
        "service": e2e.service.model_copy(update={"reconcile_interval": 2.0, **service}),
    })


async def start_operators(sip_port: int, *, talk_ms: int, calls: int) -> list[SippOperator]:
    ops = [SippOperator(ext, pw, sip_port, answer_delay_ms=300, talk_ms=talk_ms, calls=calls,
                        invite_timeout_ms=180000) for ext, pw in OPERATORS]
    await asyncio.gather(*(o.start() for o in ops))
    await asyncio.sleep(1.0)  # registered, and presence has seen it
    return ops


def call(sip_target: str, number: str, steps: list[Step]) -> asyncio.Task[CallResult]:
    return asyncio.create_task(place_call(target=sip_target, caller_id=number, steps=steps,
                                          timeout=150, wait_for_bye_ms=140000))


def cdrs_of(asterisk: AsteriskInstance) -> dict[str, list[Cdr]]:
    by_src: dict[str, list[Cdr]] = {}
    for c in CdrLog(asterisk.cdr_file).read_new():
        by_src.setdefault(c.src, []).append(c)
    return by_src


async def rows_for(settings: Settings, numbers: Sequence[str]) -> dict[str, list[CallRow]]:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            rows = (await s.scalars(select(CallRow).where(CallRow.caller_id_raw.in_(numbers)))).all()
    finally:
        await engine.dispose()
    out: dict[str, list[CallRow]] = {n: [] for n in numbers}
    for r in rows:
        out[r.caller_id_raw or ""].append(r)
    return out


async def attempts_and_operators(
    settings: Settings, call_ids: Sequence[int],
) -> tuple[dict[int, list[CallAttemptRow]], dict[str, int]]:
    """The routing attempts of these calls (in order) and the operators' ids by extension."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            atts = (await s.scalars(select(CallAttemptRow).where(CallAttemptRow.call_id.in_(call_ids))
                                    .order_by(CallAttemptRow.call_id, CallAttemptRow.id))).all()
            ops = {o.extension: o.id for o in (await s.scalars(select(OperatorRow))).all()}
    finally:
        await engine.dispose()
    by_call: dict[int, list[CallAttemptRow]] = {i: [] for i in call_ids}
    for a in atts:
        by_call[a.call_id].append(a)
    return by_call, ops


async def wait_all_closed(settings: Settings, numbers: Sequence[str], timeout: float) -> dict[str, list[CallRow]]:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        rows = await rows_for(settings, numbers)
        if all(rs and all(r.ended_at is not None for r in rs) for rs in rows.values()):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError({n: [(r.outcome, r.ended_at) for r in rs] for n, rs in rows.items()})
        await asyncio.sleep(0.5)


async def stop_all(ops: list[SippOperator]) -> None:
    await asyncio.gather(*(o.stop() for o in ops))


def reached_human(cdrs: dict[str, list[Cdr]], number: str) -> bool:
    """Asterisk's record says this caller was bridged with an operator who answered."""
    return any(c.talked and (c.peer_extension or "").startswith("100") for c in cdrs.get(number, []))


async def test_kill_9_strands_no_caller_and_the_restart_reconciles_every_call(
    asterisk: AsteriskInstance, e2e_settings: Settings, sip_target: str, tmp_path: Path,
) -> None:
    """10 callers (4 talking to operators, 3 with the bot, 3 in the IVR menu) when the service
    is killed with SIGKILL; one more calls while it is down. Everyone reaches (or stays with)
    an operator; after the restart every call has a closed row with an outcome."""
    settings = settings_for(e2e_settings, tmp_path)
    ops = await start_operators(settings.asterisk.sip_port, talk_ms=TALK_S * 1000, calls=100)
    svc = ServiceProcess(settings, tmp_path, name="first")
    again = ServiceProcess(settings, tmp_path, name="restarted")
    talkers = [f"+7999110000{i}" for i in range(4)]
    bots = [f"+7999120000{i}" for i in range(3)]
    ivrs = [f"+7999130000{i}" for i in range(3)]
    while_down = "+79991400000"
    everyone = [*talkers, *bots, *ivrs, while_down]
    try:
        await svc.start()
        calls = [call(sip_target, n, TO_OPERATOR) for n in talkers]
        await asyncio.sleep(6)  # the talkers are routed and answered (12 s conversations)
        calls += [call(sip_target, n, BOT) for n in bots] + [call(sip_target, n, IVR) for n in ivrs]
        await asyncio.sleep(5)  # in the bot's and the menu's prompts
        killed_at = datetime.now(UTC)
        svc.signal(signal.SIGKILL)
        await svc.wait(10)
        calls.append(call(sip_target, while_down, IVR))
        await asyncio.sleep(3)  # the caller that found the service down is in the pool
        await again.start()
        results = await asyncio.gather(*calls)
        rows = await wait_all_closed(settings, everyone, timeout=30)
    finally:
        await again.close()
        await svc.close()
        await stop_all(ops)
    cdrs = cdrs_of(asterisk)
    humans = [n for n in everyone if reached_human(cdrs, n)]
    outcomes = {n: [r.outcome for r in rs] for n, rs in rows.items()}
    reconciled = [n for n, rs in rows.items() if any(p.get("node") == "(reconciled)"
                                                     for r in rs for p in r.path or [])]
    talking = [n for n in talkers if any(c.talked and c.start and c.end and c.start < killed_at < c.end
                                         for c in cdrs.get(n, []))]
    print(f"\nkill -9: calls placed {len(everyone)}, talking at the kill {len(talking)}, "
          f"reached a human {len(humans)}, rows {sum(len(r) for r in rows.values())}, "
          f"reconciled {len(reconciled)}: {outcomes}")
    assert talking == talkers
    assert all(r.ok for r in results), [r.stderr[-500:] for r in results if not r.ok]
    assert humans == everyone, {n: [(c.dstchannel, c.disposition) for c in cdrs.get(n, [])] for n in everyone}
    assert all(len(rs) == 1 for rs in rows.values()), outcomes
    for n in talkers:  # bridged at the kill: the conversation went on to its end (the
        # operator hangs up after TALK_S: a conversation cut by the kill would be shorter)
        assert max(c.billsec for c in cdrs[n] if c.talked) >= TALK_S - 1, cdrs[n]
        assert outcomes[n] == ["transferred"], outcomes
    for n in [*bots, *ivrs]:  # left the service mid-IVR: Asterisk's fallback took them
        assert outcomes[n] == ["fallback_answered"], outcomes
    assert outcomes[while_down] == ["fallback_answered"]
    assert all(r.answered_by_id is not None for rs in rows.values() for r in rs)
    assert sorted(reconciled) == sorted(everyone)
    assert "Traceback" not in again.text(), again.text()[-3000:]


async def test_sigterm_drains_and_drops_no_call(
    asterisk: AsteriskInstance, e2e_settings: Settings, sip_target: str, tmp_path: Path,
) -> None:
    """SIGTERM while callers talk to operators and others are in the IVR: the service takes
    no new call (it goes to the pool), lets the conversations end, leaves the IVR callers to
    Asterisk's fallback at the end of its grace, flushes its writes and exits 0."""
    settings = settings_for(e2e_settings, tmp_path, drain_grace=15.0)
    ops = await start_operators(settings.asterisk.sip_port, talk_ms=6000, calls=100)
    svc = ServiceProcess(settings, tmp_path, name="draining")
    again = ServiceProcess(settings, tmp_path, name="after")
    talkers = [f"+7999210000{i}" for i in range(3)]
    ivrs = [f"+7999230000{i}" for i in range(2)]
    during = "+79992400000"
    everyone = [*talkers, *ivrs, during]
    try:
        await svc.start()
        calls = [call(sip_target, n, TO_OPERATOR) for n in talkers]
        calls += [call(sip_target, n, IVR) for n in ivrs]
        await asyncio.sleep(6)
        t0 = time.monotonic()
        svc.signal(signal.SIGTERM)
        await asyncio.sleep(1)
        calls.append(call(sip_target, during, IVR))  # while draining: Asterisk's fallback
        code = await svc.wait(60)
        drained_in = time.monotonic() - t0
        results = await asyncio.gather(*calls)
        await again.start()
        rows = await wait_all_closed(settings, everyone, timeout=30)
    finally:
        await again.close()
        await svc.close()
        await stop_all(ops)
    cdrs = cdrs_of(asterisk)
    humans = [n for n in everyone if reached_human(cdrs, n)]
    outcomes = {n: [r.outcome for r in rs] for n, rs in rows.items()}
    dropped = [n for n, r in zip([*talkers, *ivrs, during], results, strict=True) if not r.ok]
    print(f"\nSIGTERM: calls placed {len(everyone)}, dropped {len(dropped)}, reached a human "
          f"{len(humans)}, exit {code} after {drained_in:.1f} s: {outcomes}")
    text = svc.text()
    assert code == 0, text[-3000:]
    assert "service.draining" in text and "agi.listener_closed" in text
    assert dropped == [], [r.stderr[-500:] for r in results if not r.ok]
    assert humans == everyone
    for n in talkers:  # finished within the grace: stored by the service itself
        assert outcomes[n] not in (["ended_unknown"], ["abandoned"]) and len(outcomes[n]) == 1, outcomes
    for n in [*ivrs, during]:
        assert outcomes[n] == ["fallback_answered"], outcomes
    assert "Traceback" not in text, text[-3000:]


async def test_ami_cut_for_30_s_loses_no_call_and_presence_is_right_after(
    asterisk: AsteriskInstance, e2e_settings: Settings, sip_target: str, tmp_path: Path,
) -> None:
    """The service's AMI link goes through a proxy that is cut for 30 s (connections dropped,
    connects refused) while callers talk to operators and new ones arrive; one operator
    leaves and another arrives during the cut. No call is lost, every row is stored by the
    service itself, and presence is right once AMI is back. The routing outcome does not
    depend on AMI: every caller's attempt is answered by the operator Asterisk's CDR says
    talked with them, the call is `transferred`, and no caller hears the menu again after
    the conversation (the executor reads the channel's variables after Queue returns)."""
    from callrouting.model import Presence
    from hotline.app.service import Service
    from tests.support.tcp_proxy import CuttableProxy

    proxy = CuttableProxy(e2e_settings.asterisk.ami_port)
    await proxy.start()
    settings = settings_for(e2e_settings, tmp_path)
    settings = settings.model_copy(update={"asterisk": settings.asterisk.model_copy(
        update={"ami_port": proxy.port})})
    port = settings.asterisk.sip_port
    ops = [SippOperator(ext, pw, port, answer_delay_ms=300, talk_ms=8000, calls=100,
                        invite_timeout_ms=180000) for ext, pw in OPERATORS[:4]]
    leaving = SippOperator(*OPERATORS[6], port, calls=100)  # 1007 leaves during the cut
    arriving = SippOperator(*OPERATORS[5], port, calls=100)  # 1006 registers during the cut
    before = [f"+7999310000{i}" for i in range(3)]
    during = [f"+7999320000{i}" for i in range(3)]
    svc = Service(settings, with_bot=False)
    await asyncio.gather(*(o.start() for o in [*ops, leaving]))
    try:
        await svc.start()
        await svc.ami.wait_connected(10)
        await svc.presence.wait_for("1007", Presence.AVAILABLE, timeout=10)
        calls = [call(sip_target, n, TO_OPERATOR) for n in before]
        await asyncio.sleep(5)  # routed and talking
        await proxy.cut()
        t0 = time.monotonic()
        await asyncio.sleep(1)
        assert not svc.ami.connected
        calls += [call(sip_target, n, TO_OPERATOR) for n in during]
        await leaving.stop()  # unregisters
        await arriving.start()
        await asyncio.sleep(max(0.0, 30 - (time.monotonic() - t0)))
        resyncs = svc.presence.resyncs
        await proxy.restore()
        await svc.ami.wait_connected(30)
        async with asyncio.timeout(15):
            while svc.presence.resyncs == resyncs:
                await asyncio.sleep(0.1)
        results = await asyncio.gather(*calls)
        await asyncio.sleep(2)  # the sessions store their ends
        snapshot = svc.presence.snapshot()
        rows = await rows_for(settings, [*before, *during])
        attempts, op_ids = await attempts_and_operators(
            settings, [r.id for rs in rows.values() for r in rs])
    finally:
        await svc.stop()
        await proxy.stop()
        await stop_all([*ops, leaving, arriving])
    cdrs = cdrs_of(asterisk)
    humans = [n for n in [*before, *during] if reached_human(cdrs, n)]
    outcomes = {n: [r.outcome for r in rs] for n, rs in rows.items()}
    steps = {n: [(a.reason, a.outcome) for r in rs for a in attempts[r.id]] for n, rs in rows.items()}
    print(f"\nAMI cut 30 s: calls placed {len(before) + len(during)}, reached a human {len(humans)}, "
          f"lost {sum(not r.ok for r in results)}, presence after: {dict(sorted(snapshot.items()))}, "
          f"rows: {outcomes}, attempts: {steps}")
    assert all(r.ok for r in results), [r.stderr[-500:] for r in results if not r.ok]
    assert humans == [*before, *during]
    assert all(len(rs) == 1 and rs[0].ended_at is not None and rs[0].outcome for rs in rows.values()), outcomes
    assert not any(p.get("node") == "(reconciled)" for rs in rows.values() for r in rs for p in r.path or [])
    for n in [*before, *during]:  # routed (before the cut) or rung (during it): same outcome
        row = rows[n][0]
        talked_with = {c.peer_extension for c in cdrs[n] if c.talked}
        assert len(talked_with) == 1, cdrs[n]
        operator_id = op_ids[talked_with.pop()]
        assert steps[n] == [("pool", "answered")], steps
        assert attempts[row.id][0].answered_by_id == operator_id, steps
        assert row.outcome == "transferred" and row.answered_by_id == operator_id, outcomes
        nodes = [p.get("node") for p in row.path or []]
        after = nodes[nodes.index("operator") + 1:]
        assert after == ["(transfer answered)"], nodes  # no menu after the conversation
    assert snapshot["1006"] is Presence.AVAILABLE and snapshot["1007"] is Presence.UNAVAILABLE
    assert all(snapshot[ext] is Presence.AVAILABLE for ext, _ in OPERATORS[:4])  # calls over
    assert {ext for ext, _ in OPERATORS} - set(snapshot) == set()
