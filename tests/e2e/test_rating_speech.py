"""The post-call rating asked by the voice bot on the real Asterisk (AudioSocket): a key, and the
spoken "five" (made at test time with espeak-ng, sent by sipp as u-law RTP).

Same call as tests/e2e/test_rating_call.py (Maria Ivanova, silent, reaches her manager 1001 on
a baresip phone that the test hangs up), but the service runs with the voice bot, so the
rating is asked over AudioSocket instead of GET DATA.
"""

from __future__ import annotations

import array
import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from callrouting.model import Presence
from hotline.app.service import Service
from hotline.app.settings import Settings
from hotline.db.calls import CallEventRow
from hotline.pbx.rtp_pcap import PACKET_MS, SAMPLES, RtpPacket, write_pcap
from hotline.pbx.sipp import Audio, Dtmf, Pause, Step, place_call, sipp_available
from recordings.models import RatingRow
from tests.e2e.peers import Baresip
from tests.e2e.test_rating_call import (
    KEY_INTO_PROMPT_S,
    MANAGER,
    MARIA,
    SLACK_S,
    TALK_S,
    call_row,
    hang_up_operator_at,
    last_call_id,
    until_answered,
)
from tests.support.speech_testset import espeak_phone

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")


@pytest.fixture
async def bot_service(asterisk, e2e_settings: Settings) -> AsyncIterator[tuple[Service, Baresip]]:  # type: ignore[no-untyped-def]
    svc = Service(e2e_settings, with_bot=True)
    await svc.start()
    phone = Baresip(MANAGER, f"demo-pass-{MANAGER}", svc.settings.asterisk.sip_port)
    try:
        async with asyncio.timeout(10):
            while not svc.ami.connected:
                await asyncio.sleep(0.05)
        assert svc.bot is not None and hasattr(svc.bot, "ask_rating")
        await phone.start()
        await svc.presence.wait_for(MANAGER, Presence.AVAILABLE, timeout=10)
        yield svc, phone
    finally:
        await phone.stop()
        await svc.stop()


def ulaw(pcm: bytes) -> bytes:
    """G.711 u-law of 16-bit little-endian PCM (audioop is deprecated)."""
    out = bytearray()
    for sample in array.array("h", pcm):
        sign = 0x80 if sample < 0 else 0
        mag = min(abs(sample), 32635) + 0x84
        exp = max(0, mag.bit_length() - 8)
        out.append(~(sign | (exp << 4) | ((mag >> (exp + 3)) & 0x0F)) & 0xFF)
    return bytes(out)


def speech_pcap(path: Path, text: str, repeat_after_s: float) -> float:
    """`text` twice (the second `repeat_after_s` later, in case the first came too early) as one
    u-law RTP stream for sipp (Asterisk's first codec here: A-law packets came out as noise);
    returns the file's length in seconds."""
    said = espeak_phone(text, "en-us", 140)
    gap = bytes(max(0, int(repeat_after_s * 8000) * 2 - len(said)))
    pcm = said + gap + said + bytes(8000)  # and a second of silence
    step = SAMPLES * 2
    packets = []
    for i in range(0, len(pcm) // step):
        chunk = pcm[i * step:(i + 1) * step]
        packets.append(RtpPacket(i * PACKET_MS / 1000, (1000 + i) & 0xFFFF, 5000 + i * SAMPLES,
                                 0x1234ABCD, i == 0, 0, ulaw(chunk)))  # fmt: skip
    write_pcap(path, packets)
    return len(packets) * PACKET_MS / 1000


async def rate(svc: Service, phone: Baresip, steps_after: list[Step], at_s: float,
               timeout_s: float) -> tuple[RatingRow, dict, list[dict]]:  # type: ignore[type-arg]
    before = await last_call_id(svc)
    t0 = time.monotonic()
    caller = asyncio.create_task(place_call(
        target=f"127.0.0.1:{svc.settings.asterisk.sip_port}", caller_id=MARIA,
        steps=[Pause(int(at_s * 1000)), *steps_after], timeout=at_s + timeout_s,
        wait_for_bye_ms=30000,
    ))  # fmt: skip
    await hang_up_operator_at(phone, t0 + at_s - KEY_INTO_PROMPT_S)
    result = await caller
    assert result.ok, result.stderr[-2000:] + result.messages[-3000:]
    row = await call_row(svc, before)
    async with asyncio.timeout(10):
        while True:
            async with svc.sessionmaker() as s:
                rating = await s.scalar(select(RatingRow).where(RatingRow.call_id == row.id))
                events = list((await s.scalars(select(CallEventRow).where(
                    CallEventRow.call_id == row.id, CallEventRow.kind == "ivr.rating_by_bot"))).all())
            if rating is not None and events:
                break
            await asyncio.sleep(0.2)
    stored = await call_row(svc, before)
    return rating, events[0].data, stored.path


async def test_key_4_over_audiosocket(bot_service: tuple[Service, Baresip]) -> None:
    svc, phone = bot_service
    key_at = await until_answered(svc) + SLACK_S + TALK_S + KEY_INTO_PROMPT_S
    rating, by_bot, path = await rate(svc, phone, [Dtmf("4")], key_at, 40)
    assert (rating.score, rating.status) == (4, "rated")
    assert by_bot["via"] == "key" and by_bot["score"] == 4
    assert ("(rating)", "rated 4") in [(p["node"], p["detail"]) for p in path]


async def test_caller_says_five(bot_service: tuple[Service, Baresip], tmp_path: Path) -> None:
    svc, phone = bot_service
    say_at = await until_answered(svc) + SLACK_S + TALK_S + KEY_INTO_PROMPT_S
    pcap = tmp_path / "five.pcap"
    length = speech_pcap(pcap, "five", repeat_after_s=6.0)
    # sipp plays the pcap on while it waits for Asterisk's BYE (a pause would abort on it)
    rating, by_bot, path = await rate(svc, phone, [Audio(str(pcap), 100)], say_at,
                                      length + 40)  # fmt: skip
    assert by_bot["via"] == "speech" and by_bot["heard"] == "five", by_bot
    assert (rating.score, rating.status) == (5, "rated")
    assert ("(rating)", "rated 5 by speech ('five')") in [(p["node"], p["detail"]) for p in path]
