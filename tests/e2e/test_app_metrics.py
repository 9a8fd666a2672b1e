"""GET /metrics on the real Asterisk: one real call through the IVR to an operator.

The full service runs the demo dialplan. Maria Ivanova (VIP, personal manager 1001) stays
silent at the menus and is routed to 1001, a registered baresip phone that answers at once;
she hangs up during the conversation. The scrape, parsed with prometheus_client's parser,
must show the call finished as transferred, one routing decision and one ring seen on AMI,
the AGI commands timed, her call-record writes, nobody waiting and AMI connected.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from callrouting.model import Presence
from hotline.app.service import Service
from hotline.pbx.sipp import HangUp, Pause, place_call, sipp_available
from tests.e2e.peers import Baresip
from tests.e2e.test_rating_call import MANAGER, MARIA, SLACK_S, TALK_S, until_answered
from tests.support.stored import ended_call

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")

log = structlog.get_logger("tests.e2e.metrics")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
OUTCOMES = ("completed", "transferred", "transfer_failed", "caller_hung_up", "failed")


async def scrape(service: Service) -> Samples:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"http://127.0.0.1:{service.settings.service.http_port}/metrics")
    assert r.status_code == 200, r.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def v(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def until(service: Service, check: Callable[[Samples], bool], timeout: float = 15) -> Samples:
    async with asyncio.timeout(timeout):
        while not check(samples := await scrape(service)):
            await asyncio.sleep(0.1)
    return samples


@pytest.fixture
async def manager_phone(service: Service) -> AsyncIterator[Baresip]:
    phone = Baresip(MANAGER, f"demo-pass-{MANAGER}", service.settings.asterisk.sip_port)
    try:
        await phone.start()
        await service.presence.wait_for(MANAGER, Presence.AVAILABLE, timeout=10)
        yield phone
    finally:
        await phone.stop()


async def test_a_call_to_an_operator_shows_in_the_metrics(service: Service,
                                                          manager_phone: Baresip) -> None:
    before = await scrape(service)
    assert v(before, "hotline_ami_connected") == 1
    hangup_at = await until_answered(service) + SLACK_S + TALK_S
    caller = asyncio.create_task(place_call(
        target=f"127.0.0.1:{service.settings.asterisk.sip_port}", caller_id=MARIA,
        steps=[Pause(int(hangup_at * 1000)), HangUp()], timeout=hangup_at + 30,
    ))
    await manager_phone.wait_for_line(r"(?i)call established", timeout=60)
    # talking to the operator: a call in progress, nobody waiting (AMI saw the answer)
    talking = await until(service, lambda s: v(s, "hotline_callers_waiting", stage="ring") == 0)
    assert v(talking, "hotline_calls_in_progress") == 1
    result = await caller
    assert result.ok, result.stderr[-2000:] + result.messages[-3000:]
    after = await until(service, lambda s: v(s, "hotline_calls_in_progress") == 0)

    row = await ended_call(service.sessionmaker, MARIA)  # its end is written behind the call
    assert row is not None and row.outcome == "transferred"

    def delta(name: str, **labels: str) -> float:
        return v(after, name, **labels) - v(before, name, **labels)

    assert {o: delta("hotline_calls_finished_total", outcome=o) for o in OUTCOMES} \
        == {o: (1 if o == "transferred" else 0) for o in OUTCOMES}
    assert delta("hotline_ivr_setup_seconds_count") == 1
    assert delta("hotline_agi_command_seconds_count", command="ANSWER") == 1
    assert delta("hotline_agi_command_seconds_count", command="STREAM FILE") >= 1  # the greeting
    assert delta("hotline_agi_command_seconds_count", command="GET VARIABLE") >= 1  # the key
    # the first-answer guard lifted, the display name set for 1001's phone
    assert delta("hotline_agi_command_seconds_count", command="SET VARIABLE") >= 2
    assert not [k for k in after if k[0] == "hotline_agi_command_seconds_count"
                and ("command", "EXEC") in k[1]]  # Dial's reply is the whole conversation
    assert delta("hotline_routing_decision_seconds_count") == 1
    assert delta("hotline_routing_decision_to_ring_seconds_count") == 1  # 1001 rang (DialBegin)
    assert delta("hotline_routing_finished_total", outcome="answered") == 1
    assert v(after, "hotline_callers_waiting", stage="ring") == 0
    assert v(after, "hotline_callers_waiting", stage="queue") == 0
    assert delta("hotline_db_write_seconds_count", op="call_started") == 1
    assert delta("hotline_db_write_seconds_count", op="call_ended") == 1
    assert delta("hotline_db_write_seconds_count", op="call_event") >= 3
    assert sum(val for (n, _), val in after.items() if n == "hotline_db_writes_lost_total") == 0
    assert sum(val for (n, _), val in after.items() if n == "hotline_db_write_failures_total") == 0
    assert v(after, "hotline_write_behind_queue_depth") == 0
    assert v(after, "hotline_ami_connected") == 1
    log.info("metrics.figures",  # for the note: what one real call measured
             decision_s=round(delta("hotline_routing_decision_seconds_sum"), 4),
             decision_to_ring_s=round(delta("hotline_routing_decision_to_ring_seconds_sum"), 4),
             setup_s=round(delta("hotline_ivr_setup_seconds_sum"), 4),
             answer_round_trip_s=round(delta("hotline_agi_command_seconds_sum", command="ANSWER"), 4),
             agi_commands={dict(k[1])["command"]: delta(k[0], **dict(k[1])) for k in after
                           if k[0] == "hotline_agi_command_seconds_count"},
             db_writes=sum(delta("hotline_db_write_seconds_count", op=o)
                           for o in ("call_started", "call_event", "call_path", "call_update",
                                     "call_answered", "call_ended")))
