"""Barge-in on the real Asterisk: a sipp caller presses a key or starts talking while the bot
greets; the bot's audio stops within 200 ms and the key is acted on.

Stop time is measured on the server side by a tap on the session: from the moment the key's
AudioSocket DTMF frame (or the first loud caller audio frame) arrived to the last frame of the
interrupted greeting sent (frames are matched against the greeting's rendered PCM, so the
"Connecting you..." that follows a 0 does not count). The session's own barge-in metric is
checked too.

sipp replays the RFC 2833 pcaps with their own sequence numbers: within one call keys only work
in the order 1 < ... < 9 < * < # < 0 (see test_ivr_call).
"""

from __future__ import annotations

import array
import asyncio
import math
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hotline.app.service import Service
from hotline.pbx.sipp import Audio, Dtmf, HangUp, Pause, Step, place_call, sipp_available
from tests.e2e.bot_support import BotCalls, make_bot_service
from voicebot.dialog import GREETING, KEY_TICKET
from voicebot.gateway import BotGateway
from voicebot.session import BotResult, BotSession

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")]

SPEECH_PCAP = "/usr/share/sip-tester/g711a.pcap"  # ~7 s of speech (A-law RTP)
LOUD_RMS = 300  # a caller frame louder than this counts as speech having started


def _rms(pcm: bytes) -> int:
    samples = array.array("h", pcm[: len(pcm) // 2 * 2])
    return int(math.sqrt(sum(x * x for x in samples) / len(samples))) if samples else 0


@dataclass
class SessionTap:
    """Server-side timeline of one bot session: caller frames and keys in, frames out
    (times on the event loop's clock, as the AudioSocket server stamps them)."""

    session: BotSession
    inbound: list[tuple[float, int]] = field(default_factory=list)  # (arrived, rms)
    keys: list[tuple[float, str]] = field(default_factory=list)
    sent: list[tuple[float, bytes]] = field(default_factory=list)

    @classmethod
    def attach(cls, session: BotSession) -> SessionTap:
        tap = cls(session)
        loop = asyncio.get_running_loop()
        audio, dtmf, start = session.audio, session.dtmf, session.start

        async def on_audio(pcm: bytes, at: float | None = None) -> None:
            tap.inbound.append((loop.time() if at is None else at, _rms(pcm)))
            await audio(pcm, at)

        async def on_dtmf(digit: str, at: float | None = None) -> None:
            tap.keys.append((loop.time() if at is None else at, digit))
            await dtmf(digit, at)

        async def on_start(send: Callable[[bytes], Any]) -> None:
            def sending(pcm: bytes) -> Any:
                tap.sent.append((loop.time(), pcm))
                return send(pcm)

            await start(sending)

        session.audio, session.dtmf, session.start = on_audio, on_dtmf, on_start  # type: ignore[method-assign]
        return tap

    def speech_start(self, after: float = 0.0) -> float | None:
        return next((t for t, rms in self.inbound if t >= after and rms > LOUD_RMS), None)

    def first_voiced(self, after: float = 0.0) -> float | None:
        return next((t for t, pcm in self.sent if t >= after and any(pcm)), None)

    def last_of(self, pcm: bytes, before: float | None = None) -> float | None:
        """When the last voiced frame that is a piece of `pcm` was sent."""
        times = [t for t, f in self.sent if any(f) and f.rstrip(b"\0") in pcm
                 and (before is None or t < before)]
        return max(times, default=None)


@dataclass
class BotRig:
    service: Service
    gateway: BotGateway
    calls: BotCalls
    taps: list[SessionTap] = field(default_factory=list)
    results: list[BotResult] = field(default_factory=list)

    def greeting_pcm(self) -> bytes:
        parts = [self.gateway.tts.cached(s) for s in GREETING]
        assert all(parts), "the greeting is pre-rendered at start"
        return b"".join(p for p in parts if p)


@pytest.fixture
async def rig(asterisk, e2e_settings) -> AsyncIterator[BotRig]:  # type: ignore[no-untyped-def]
    calls = BotCalls()
    svc, gw = make_bot_service(e2e_settings, calls)
    r = BotRig(svc, gw, calls)

    def on_session(call: uuid.UUID, session: BotSession) -> None:
        r.taps.append(SessionTap.attach(session))

    gw.on_session = on_session
    run = gw.run

    async def recording_run(chan, call_context=None):  # type: ignore[no-untyped-def]
        result = await run(chan, call_context)
        r.results.append(result)
        return result

    gw.run = recording_run  # type: ignore[method-assign]
    await gw.start()
    await svc.start()
    try:
        yield r
    finally:
        await svc.stop()
        await gw.stop()


async def _call(rig: BotRig, sip_target: str, steps: list[Step], tmp: Path,
                timeout: float = 40) -> BotResult:
    res = await place_call(target=sip_target, service=rig.service.settings.asterisk.hotline_extension,
                           caller_id="89990001234", steps=steps, timeout=timeout,
                           wait_for_bye_ms=int(timeout * 1000), workdir=tmp / "sipp")
    async with asyncio.timeout(10):
        while not rig.results:
            await asyncio.sleep(0.05)
    assert len(rig.taps) == 1, (res.stdout[-500:], res.stderr[-500:])
    return rig.results[0]


def _stop_after(tap: SessionTap, at: float, greeting: bytes) -> float:
    last = tap.last_of(greeting)
    assert last is not None and tap.first_voiced() is not None, "the greeting never played"
    assert last > at - 0.3, "the greeting had already stopped before the caller acted"
    stop = max(0.0, last - at)
    print(f"barge-in: greeting stopped {stop * 1000:.0f} ms after the caller acted "
          f"(session metric {[round(s * 1000) for s in tap.session.metrics.bargeins]} ms)")
    return stop


async def test_key_zero_during_greeting_stops_it_and_transfers(rig: BotRig, sip_target: str,
                                                               tmp_path: Path) -> None:
    res = await _call(rig, sip_target, [Pause(2500), Dtmf("0")], tmp_path)
    tap = rig.taps[0]
    assert [d for _, d in tap.keys] == ["0"], tap.keys
    pressed = tap.keys[0][0]
    stop = _stop_after(tap, pressed, rig.greeting_pcm())
    assert stop <= 0.2, f"greeting went on {stop * 1000:.0f} ms after the key"
    assert res.outcome == "operator" and res.reason == "dtmf_0", res
    assert res.bargein_stops and res.bargein_stops[0] <= 0.2, res.bargein_stops
    assert [f.outcome for f in rig.calls.finished] == ["operator"]
    assert rig.calls.routed, "the operator outcome reaches routing"
    # the transfer announcement follows at once
    said = tap.first_voiced(after=pressed + 0.001)
    assert said is not None and said - pressed < 0.5


async def test_keyed_digits_during_greeting_stop_it_and_are_acted_on(rig: BotRig, sip_target: str,
                                                                     tmp_path: Path) -> None:
    steps: list[Step] = [Pause(2500), Dtmf("5"), Pause(300), Dtmf("#"), Pause(5000), HangUp()]
    res = await _call(rig, sip_target, steps, tmp_path)
    tap = rig.taps[0]
    assert [d for _, d in tap.keys] == ["5", "#"], tap.keys
    pressed = tap.keys[0][0]
    stop = _stop_after(tap, pressed, rig.greeting_pcm())
    assert stop <= 0.2, f"greeting went on {stop * 1000:.0f} ms after the key"
    assert res.bargein_stops and res.bargein_stops[0] <= 0.2, res.bargein_stops
    entries = [(e.speaker, e.text) for e in res.transcript]
    assert ("caller", "[keyed 5#]") in entries, entries
    assert ("bot", KEY_TICKET) in entries, entries  # too short for a ticket: asks again
    assert res.outcome == "hangup"


async def test_caller_speech_during_greeting_stops_it(rig: BotRig, sip_target: str,
                                                      tmp_path: Path) -> None:
    steps: list[Step] = [Pause(2500), Audio(SPEECH_PCAP, ms=7500), Pause(1500), HangUp()]
    res = await _call(rig, sip_target, steps, tmp_path)
    tap = rig.taps[0]
    spoke = tap.speech_start()
    assert spoke is not None, f"no caller audio arrived: {len(tap.inbound)} frames"
    stop = _stop_after(tap, spoke, rig.greeting_pcm())
    assert stop <= 0.2, f"greeting went on {stop * 1000:.0f} ms after the caller spoke"
    assert res.bargein_stops and res.bargein_stops[0] <= 0.2, res.bargein_stops
