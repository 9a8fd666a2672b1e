"""Shared by the bot e2e tests and the bot benchmark: a service whose FastAGI handler answers
and hands the call to the bot gateway (the IVR is wired in by the lead later), and caller audio
made with espeak-ng at test time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hotline.app.service import Service
from hotline.app.settings import Settings
from hotline.pbx.agi import AgiChannel, AgiHangup
from ivr.machine import BotFinished, StartBot
from lottery.facts import DbLotteryFacts
from voicebot.audio import write_wav
from voicebot.gateway import BotGateway, choose_asr
from voicebot.tts_engines import make_tts


def utc_now() -> datetime:
    return datetime.now(UTC)


def say_wav(
    text: str,
    path: Path,
    *,
    voice: str = "en-us",
    wpm: int = 150,
    lead_s: float = 1.5,
    tail_s: float = 8.0,
) -> tuple[Path, float, float]:
    """Caller speech as an 8 kHz phone-band WAV padded with silence: espeak-ng by default,
    the Piper joe voice when `voice` is "piper" (falls back to espeak en-us if Piper is missing).
    Returns (path, speech start s, speech end s) within the file."""
    phone = b""
    if voice == "piper":
        try:
            from voicebot.tts_piper import PiperTts

            phone = PiperTts()._synthesize(text, None)
        except Exception:  # piper-tts / joe voice not installed
            voice = "en-us"
    if not phone:
        from tests.support.speech_testset import espeak_phone

        phone = espeak_phone(text, voice, wpm)
    lead = bytes(int(8000 * lead_s) * 2)
    write_wav(path, lead + phone + bytes(int(8000 * tail_s) * 2), 8000)
    return path, lead_s, lead_s + len(phone) / 16000


@dataclass
class BotCalls:
    """What the test handler saw: one entry per call."""

    finished: list[BotFinished] = field(default_factory=list)
    routed: list[dict[str, Any]] = field(default_factory=list)
    call_ids: list[int] = field(default_factory=list)


def make_bot_service(
    settings: Settings,
    calls: BotCalls,
    clock: Callable[[], datetime] = utc_now,
    *,
    tts: str = "espeak",
) -> tuple[Service, BotGateway]:
    holder: dict[str, BotGateway] = {}

    async def handler(chan: AgiChannel) -> None:
        svc_store = service.store
        call_id = await svc_store.start_call(
            uniqueid=chan.uniqueid,
            linkedid=chan.env.get("agi_linkedid") or None,
            channel=chan.env.get("agi_channel"),
            caller_id_raw=chan.env.get("agi_callerid"),
            caller_number=None,
            caller=None,
            started_at=clock(),
        )
        calls.call_ids.append(call_id)
        outcome = "caller_hung_up"
        try:
            await chan.answer()
            done = await holder["gw"](chan, StartBot(None, "en", {}), {"call_id": call_id})
            calls.finished.append(done)
            if done.outcome in ("operator", "failed"):
                # stand-in for routing: what the bot learned arrives with the call
                calls.routed.append(
                    {
                        "intent": done.intent,
                        "slots": dict(done.slots),
                        "bot_intent_var": await chan.get_variable("HOTLINE_BOT_INTENT"),
                    }
                )
            await chan.set_variable("HOTLINE_DONE", "1")
            await chan.hangup()
            outcome = "bot_" + done.outcome
        except AgiHangup:
            pass
        finally:
            await svc_store.finish_call(call_id, outcome)

    service = Service(settings, handler=handler)
    facts = DbLotteryFacts(service.sessionmaker, clock)
    gw = BotGateway(
        settings,
        facts,
        lambda: choose_asr("en", pool_size=12),  # per worker process (9 MB a decoder)
        make_tts(tts),
        clock,
        store=service.store,
    )
    holder["gw"] = gw
    return service, gw
