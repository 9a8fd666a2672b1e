"""Issue 6 on the real Asterisk: the post-call rating and the conversation's recording.

The full service (IVR + routing + QA API) runs the demo dialplan.  The caller is Maria
Ivanova, a VIP whose personal manager is 1001 (Anna Petrova, team Hotline): she stays silent
at the language menu and at the VIP menu, which sends her to her manager.  A baresip
softphone registered as 1001 answers at once and plays a tone; the test hangs it up, so the
caller (Dial option g) stays on the line and hears the rating prompt.

sipp scripts are fixed timelines, so key presses are timed from the rendered prompt lengths:
the operator is hung up about two seconds before the caller's key is due, which puts the key
inside the rating prompt (keys interrupt it) whatever small delays the call has.
"""

from __future__ import annotations

import array
import asyncio
import math
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callrouting.model import Presence
from directory.tables import OperatorRow, TeamRow
from hotline.app.service import Service
from hotline.db.calls import CallRow
from hotline.pbx.sipp import Dtmf, HangUp, Pause, Step, place_call, sipp_available
from ivr.session import CachedPrompts
from recordings.models import RatingRow, RecordingRow
from recordings.storage import resolve_recording
from tests.e2e.conftest import api_client
from tests.e2e.peers import Baresip
from tests.support.databases import on_both_databases

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")

MARIA = "+79161234567"  # VIP, personal manager 1001
MANAGER = "1001"
TALK_S = 2.0  # the operator talks this long, at least, before hanging up
KEY_INTO_PROMPT_S = 2.0  # the caller's key lands this far into the rating prompt
SLACK_S = 8.0  # room for call set-up, ringing, the answer and a loaded machine's lag


def rms(path: Path) -> float:
    """Root mean square of a 16-bit mono WAV (0..32767)."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2, "MixMonitor writes 16-bit WAV"
        samples = array.array("h", w.readframes(w.getnframes()))
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


@pytest.fixture
async def rated(service: Service) -> AsyncIterator[tuple[Service, Baresip]]:
    """The service with recordings on, and operator 1001 on a registered baresip phone."""
    if service.ivr.recordings is None:
        # hotline/service.py does not pass the recording settings to the IVR yet (asked of the
        # lead): wire them here the way the composition root will
        service.ivr.recordings = service.recordings
    phone = Baresip(MANAGER, f"demo-pass-{MANAGER}", service.settings.asterisk.sip_port)
    try:
        await phone.start()
        await service.presence.wait_for(MANAGER, Presence.AVAILABLE, timeout=10)
        yield service, phone
    finally:
        await phone.stop()


async def seconds(service: Service, text: str) -> float:
    prompts = service.ivr.prompts
    assert isinstance(prompts, CachedPrompts)
    path = await prompts.render(text, "en", None)
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def en(prompt: Any) -> str:
    return prompt[0].say["en"]


async def until_answered(service: Service) -> float:
    """Seconds from the caller's answer until her manager's phone is rung, silent caller."""
    dp = service.ivr.current_dialplan()
    g, lang, vip, op = dp.greeting, dp.nodes["choose_language"], dp.nodes["vip_menu"], dp.nodes["operator_vip"]
    assert g is not None and g.known is not None
    total = await seconds(service, en(g.known).replace("{caller_name}", "Maria Ivanova"))
    total += await seconds(service, en(g.rating_notice))
    total += sum([await seconds(service, i.say["en"]) for i in lang.prompt]) + lang.timeout  # type: ignore[union-attr,index]
    total += await seconds(service, en(vip.prompt)) + vip.timeout  # type: ignore[union-attr]
    total += await seconds(service, en(op.prompt))  # type: ignore[union-attr]
    return total


async def call_row(service: Service, uniqueid_after: int = 0) -> CallRow:
    async with asyncio.timeout(10):
        while True:
            async with service.sessionmaker() as s:
                row = await s.scalar(select(CallRow).where(CallRow.caller_id_raw == MARIA,
                                                           CallRow.id > uniqueid_after)
                                     .order_by(CallRow.id.desc()).limit(1))
            if row is not None:
                return row
            await asyncio.sleep(0.1)


async def last_call_id(service: Service) -> int:
    async with service.sessionmaker() as s:
        return (await s.scalar(select(CallRow.id).order_by(CallRow.id.desc()).limit(1))) or 0


async def operator_and_team(service: Service) -> tuple[int, int]:
    async with service.sessionmaker() as s:
        op = await s.scalar(select(OperatorRow).where(OperatorRow.extension == MANAGER))
        team = await s.scalar(select(TeamRow).where(TeamRow.name == "Hotline"))
    assert op is not None and team is not None and op.team_id == team.id
    return op.id, team.id


async def hang_up_operator_at(phone: Baresip, due: float) -> float:
    """Once the call is up, hang the operator up at monotonic time `due` (but after TALK_S).
    Returns the seconds the operator was connected."""
    await phone.wait_for_line(r"(?i)call established", timeout=60)
    established = time.monotonic()
    await asyncio.sleep(max(due - time.monotonic(), TALK_S))
    await phone.hangup()
    return time.monotonic() - established


@on_both_databases
async def test_caller_rates_4_after_the_operator_hangs_up(rated: tuple[Service, Baresip]) -> None:
    service, phone = rated
    operator_id, team_id = await operator_and_team(service)
    before = await last_call_id(service)
    key_at = await until_answered(service) + SLACK_S + TALK_S + KEY_INTO_PROMPT_S
    steps: list[Step] = [Pause(int(key_at * 1000)), Dtmf("4")]

    t0 = time.monotonic()
    caller = asyncio.create_task(place_call(
        target=f"127.0.0.1:{service.settings.asterisk.sip_port}", caller_id=MARIA, steps=steps,
        timeout=key_at + 40, wait_for_bye_ms=30000,
    ))
    talked = await hang_up_operator_at(phone, t0 + key_at - KEY_INTO_PROMPT_S)
    assert talked >= TALK_S - 0.1

    # the rating is in the API within 5 s of the key press
    row = await call_row(service, before)
    key_pressed = t0 + key_at
    record: dict[str, Any] = {}
    async with api_client(service, "qa") as api:
        await asyncio.sleep(max(0.0, key_pressed - time.monotonic()))
        while time.monotonic() - key_pressed < 5.0:
            r = await api.get(f"/api/calls/{row.id}")
            assert r.status_code == 200, r.text
            record = r.json()
            if record["rating"] is not None:
                break
            await asyncio.sleep(0.2)
        seen_after = time.monotonic() - key_pressed
        assert record["rating"] is not None, f"no rating {seen_after:.1f} s after the key: {record}"
        assert record["rating"]["score"] == 4 and record["rating"]["status"] == "rated"
        assert record["call"]["operator_id"] == operator_id
        assert record["call"]["operator_name"] == "Anna Petrova"
        assert record["call"]["team_id"] == team_id

        result = await caller
        assert result.ok, result.stderr[-2000:] + result.messages[-3000:]

        # the recording: finished, linked to the rating, streamable, non-silent
        async with asyncio.timeout(10):
            while True:
                record = (await api.get(f"/api/calls/{row.id}")).json()
                recs = [r for r in record["recordings"] if r["enabled"]]
                # the call's end (its outcome) is written behind the call, like the file
                if recs and recs[0]["size"] and record["call"]["outcome"] is not None:
                    break
                await asyncio.sleep(0.2)
        rec = recs[0]
        assert rec["node"] == "operator_vip" and rec["audio_url"]
        assert record["call"]["has_recording"] and record["call"]["outcome"] == "transferred"
        audio = await api.get(rec["audio_url"])
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
        assert len(audio.content) == rec["size"]

    async with service.sessionmaker() as s:
        rating = await s.scalar(select(RatingRow).where(RatingRow.call_id == row.id))
        rec_row = await s.get(RecordingRow, rec["id"])
    assert rating is not None and rating.score == 4
    assert (rating.operator_id, rating.team_id, rating.recording_id) == (operator_id, team_id, rec["id"])
    assert rec_row is not None and rec_row.path is not None
    path = resolve_recording(service.recordings.dir, rec_row.path)
    assert path.is_file() and f"call-{row.id}-" in path.name
    assert rec_row.duration is not None and talked - 1.0 <= rec_row.duration <= talked + 1.0
    level = rms(path)
    assert level > 300, f"recording {path} is silent (RMS {level:.0f})"  # the tone is ~2100 RMS

    stored = await call_row(service, before)
    path_nodes = [(p["node"], p["detail"]) for p in stored.path]
    assert ("(transfer answered)", "") in path_nodes and ("(rating)", "rated 4") in path_nodes


@pytest.mark.parametrize("when", ["during_conversation", "at_rating_prompt"])
async def test_caller_who_hangs_up_is_stored_as_not_rated(rated: tuple[Service, Baresip],
                                                          when: str) -> None:
    service, phone = rated
    operator_id, team_id = await operator_and_team(service)
    before = await last_call_id(service)
    hangup_at = await until_answered(service) + SLACK_S + TALK_S
    if when == "at_rating_prompt":
        hangup_at += KEY_INTO_PROMPT_S  # the operator hangs up first, the caller then

    t0 = time.monotonic()
    caller = asyncio.create_task(place_call(
        target=f"127.0.0.1:{service.settings.asterisk.sip_port}", caller_id=MARIA,
        steps=[Pause(int(hangup_at * 1000)), HangUp()], timeout=hangup_at + 30,
    ))
    if when == "at_rating_prompt":
        await hang_up_operator_at(phone, t0 + hangup_at - KEY_INTO_PROMPT_S)
    result = await caller
    assert result.ok, result.stderr[-2000:] + result.messages[-3000:]

    row = await call_row(service, before)
    async with api_client(service, "qa") as api:
        async with asyncio.timeout(5):
            while True:
                record = (await api.get(f"/api/calls/{row.id}")).json()
                if record["rating"] is not None and record["call"]["ended_at"]:
                    break
                await asyncio.sleep(0.2)
    assert record["rating"]["status"] == "no_rating" and record["rating"]["score"] is None
    assert record["call"]["operator_id"] == operator_id
    assert record["call"]["outcome"] == "transferred"  # served, not lost
    recs = [r for r in record["recordings"] if r["enabled"]]
    assert len(recs) == 1 and recs[0]["audio_url"]
    async with service.sessionmaker() as s:
        rating = await s.scalar(select(RatingRow).where(RatingRow.call_id == row.id))
    assert rating is not None
    assert (rating.operator_id, rating.team_id, rating.recording_id) == (operator_id, team_id, recs[0]["id"])
