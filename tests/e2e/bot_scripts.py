"""Scripted multi-turn bot calls for the e2e tests and the bench: what the caller says or keys
and when, the caller's goal, and the caller's side rendered as one RTP stream for sipp.

A script is a list of caller actions (`Say`, `Key`), each followed by `after_s` seconds of
silence for the bot's reply before the next one. The whole call is one pcap: speech as G.711
u-law packets, keys as RFC 4733 events in the same stream (same SSRC, sequence numbers and
timestamps going on), as a phone sends them. sipp plays it after the answer and waits for
Asterisk's BYE (the bot hangs up after "goodbye" or hands an operator call to the test's
handler, which hangs up). The replies are not waited for: a caller speaking into a reply that
is still playing barges in, as callers do. Timing from the answer: the first action at
`FIRST_AT_S` (3 s, the AudioSocket opens after the FastAGI hand-over; the greeting is still
playing, so the first question barges in).

Judged by `voicebot.task_success` on the stored call. The phrasings are not in
`voicebot.intents.sample_sentences()` (a unit test checks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from hotline.db.calls import CallRow
from hotline.pbx.rtp_pcap import (
    END_PACKETS,
    EVENT_PT,
    EVENTS,
    PACKET_MS,
    SAMPLES,
    TONE_PACKETS,
    VOLUME,
    RtpPacket,
    write_pcap,
)
from hotline.pbx.sipp import Audio, place_call
from voicebot.audio import ulaw_encode
from voicebot.task_success import Goal

if TYPE_CHECKING:
    from hotline.app.service import Service

FIRST_AT_S = 3.0
TAIL_S = 2.0  # silence after the last action (sipp goes on waiting for the BYE)
ULAW_PT = 0


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    after_s: float = 8.0


@dataclass(frozen=True, slots=True)
class Key:
    digits: str
    after_s: float = 8.0
    gap_ms: int = 240  # between keys


Action = Say | Key


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    kind: str  # "direct", "follow_up", "clarify_voice", "clarify_key", "misheard", "operator"
    goal: Goal
    actions: tuple[Action, ...]


# replies' lengths in the Piper voice, about: a clarifying question 8 s, an answer with
# "Anything else?" 6-12 s, "Which game?" 3 s, the help prompt 7 s
CLARIFY_S, ANSWER_S, SHORT_S, HELP_S = 9.0, 12.0, 5.0, 8.5
BYE = Say("no thank you that is all", 6.0)

SCRIPTS: tuple[Script, ...] = (
    Script("next_draw_direct", "direct", Goal("next_draw"),
           (Say("um when is the next lottery draw", ANSWER_S), BYE)),
    Script("numbers_with_game", "direct", Goal("winning_numbers", ("Russian Lotto",)),
           (Say("which numbers were drawn in the russian lotto", ANSWER_S), BYE)),
    Script("claim_direct", "direct", Goal("claim_winnings"),
           (Say("i won something so how do i get paid", ANSWER_S + 4), BYE)),
    Script("numbers_which_game", "follow_up", Goal("winning_numbers", ("Six of Forty",)),
           (Say("tell me the winning numbers", SHORT_S), Say("six of forty five", ANSWER_S),
            BYE)),
    Script("ticket_keyed", "follow_up", Goal("check_ticket", ("won",)),
           (Say("could you check a ticket for me", SHORT_S + 2), Key("123456#", ANSWER_S + 4),
            BYE)),
    Script("clarify_says_draw_time", "clarify_voice", Goal("next_draw", ("Russian Lotto",)),
           (Say("the next russian lotto draw results", CLARIFY_S),
            Say("the draw time", ANSWER_S), BYE)),
    Script("clarify_says_numbers", "clarify_voice", Goal("winning_numbers", ("Russian Lotto",)),
           (Say("uh the next russian lotto draw results", CLARIFY_S),
            Say("the numbers please", ANSWER_S), BYE)),
    Script("clarify_says_second", "clarify_voice", Goal("next_draw", ("Russian Lotto",)),
           (Say("the next russian lotto draw results", CLARIFY_S),
            Say("the second one", ANSWER_S), BYE)),
    Script("clarify_key_1", "clarify_key", Goal("winning_numbers", ("Russian Lotto",)),
           (Say("the next russian lotto draw results", CLARIFY_S), Key("1", ANSWER_S), BYE)),
    Script("clarify_key_2", "clarify_key", Goal("next_draw", ("Russian Lotto",)),
           (Say("the next russian lotto draw results", CLARIFY_S), Key("2", ANSWER_S), BYE)),
    Script("misheard_then_rephrased", "misheard", Goal("next_draw"),
           (Say("hmm tell me about the draw", HELP_S),
            Say("when does the next draw take place", ANSWER_S), BYE)),
    Script("off_topic_then_claim", "misheard", Goal("claim_winnings"),
           (Say("my car is broken", HELP_S), Say("where can i pick up my prize money", ANSWER_S + 4),
            BYE)),
    Script("operator_spoken", "operator", Goal("operator"),
           (Say("could i talk to a real person please", SHORT_S),)),
    Script("operator_key_0", "operator", Goal("operator"), (Key("0", SHORT_S),)),
    Script("operator_after_clarify", "operator", Goal("operator"),
           (Say("the next russian lotto draw results", CLARIFY_S),
            Say("just put me through to an operator", SHORT_S))),
    Script("operator_after_miss", "operator", Goal("operator"),
           (Say("i have a question about my car", HELP_S), Say("operator", SHORT_S))),
)


def by_name(name: str) -> Script:
    return next(s for s in SCRIPTS if s.name == name)


def _event_packets(digit: str, start_at: float, seq: int, ts: int,
                   ssrc: int) -> list[RtpPacket]:  # fmt: skip
    """One key as RFC 4733 packets: growing duration, then the end three times; one timestamp."""
    out = []
    for j in range(TONE_PACKETS + END_PACKETS):
        end = j >= TONE_PACKETS
        duration = SAMPLES * (TONE_PACKETS + 1 if end else j + 1)
        flags = (0x80 if end else 0) | VOLUME
        payload = bytes([EVENTS[digit.upper()], flags]) + duration.to_bytes(2, "big")
        out.append(RtpPacket(start_at + j * PACKET_MS / 1000, (seq + j) & 0xFFFF, ts, ssrc,
                             j == 0, EVENT_PT, payload))  # fmt: skip
    return out


def render_pcap(script: Script, path: Path, speak: Callable[[str], bytes],
                first_at_s: float = FIRST_AT_S) -> float:
    """The caller's side of `script` as one RTP stream (u-law speech, RFC 4733 keys) in a pcap
    for sipp; `speak(text)` is 8 kHz 16-bit phone-band PCM. Returns the file's length (s)."""
    frame = SAMPLES * 2
    # the timeline in 20 ms slots: audio payload, or a key to send there
    slots: list[bytes | str] = []

    def silence(seconds: float) -> None:
        slots.extend([bytes(frame)] * int(round(seconds * 1000 / PACKET_MS)))

    silence(first_at_s)
    for action in script.actions:
        if isinstance(action, Say):
            pcm = speak(action.text)
            pcm += bytes(-len(pcm) % frame)
            slots.extend(pcm[i : i + frame] for i in range(0, len(pcm), frame))
        else:
            for k, digit in enumerate(action.digits):
                if k:
                    silence(action.gap_ms / 1000)
                slots.append(digit)
                slots.extend([""] * (TONE_PACKETS + END_PACKETS - 1))  # the event's other packets
        silence(action.after_s)
    silence(TAIL_S)
    packets: list[RtpPacket] = []
    ssrc, seq, ts = 0x5C1D7A11, 1000, 8000
    for i, slot in enumerate(slots):
        at = i * PACKET_MS / 1000
        if isinstance(slot, str):
            if slot:  # a key starts: its packets take this slot and the next ones
                packets += _event_packets(slot, at, seq, ts, ssrc)
                seq += TONE_PACKETS + END_PACKETS
                ts += (TONE_PACKETS + END_PACKETS) * SAMPLES
            continue
        packets.append(RtpPacket(at, seq & 0xFFFF, ts, ssrc, i == 0, ULAW_PT, ulaw_encode(slot)))
        seq += 1
        ts += SAMPLES
    write_pcap(path, packets)
    return len(slots) * PACKET_MS / 1000


def phrasings(scripts: Sequence[Script] = SCRIPTS) -> list[str]:
    return [a.text for s in scripts for a in s.actions if isinstance(a, Say)]


def caller_voice() -> Callable[[str], bytes]:
    """8 kHz phone-band speech of the caller: Piper joe when installed, else espeak-ng."""
    try:
        from voicebot.tts_piper import PiperTts

        piper = PiperTts()
        return lambda text: piper._synthesize(text, None)  # type: ignore[no-any-return]
    except Exception:  # piper-tts or the joe voice not installed
        from voicebot.tts_espeak import espeak_phone

        return lambda text: espeak_phone(text, "en-us", 150)


async def stored_call(svc: Service, caller_id: str, timeout: float = 30) -> CallRow | None:
    """The newest call from `caller_id` once it has ended with the bot's transcript written."""
    async with asyncio.timeout(timeout):
        while True:
            async with svc.sessionmaker() as s:
                row = await s.scalar(select(CallRow).where(CallRow.caller_id_raw == caller_id)
                                     .order_by(CallRow.id.desc()).limit(1))  # fmt: skip
            if row is not None and row.ended_at is not None and row.bot_transcript is not None:
                return row
            await asyncio.sleep(0.2)


async def place_scripted(svc: Service, script: Script, speak: Callable[[str], bytes],
                         workdir: Path, caller_id: str = "89990001234") -> CallRow:  # fmt: skip
    """One scripted call through Asterisk from `caller_id` (unique among calls at once); the
    stored call row."""
    workdir.mkdir(parents=True, exist_ok=True)
    pcap = workdir / "caller.pcap"
    length = await asyncio.to_thread(render_pcap, script, pcap, speak)
    # sipp plays the stream on while it waits for the bot's BYE; the bot ends every call (after
    # "goodbye", a transfer, or the silence that follows a failed script)
    res = await place_call(target=f"127.0.0.1:{svc.settings.asterisk.sip_port}",
                           service=svc.settings.asterisk.hotline_extension, caller_id=caller_id,
                           steps=[Audio(str(pcap), 100)], timeout=length + 45,
                           wait_for_bye_ms=int((length + 40) * 1000), workdir=workdir)  # fmt: skip
    try:
        row = await stored_call(svc, caller_id)
    except TimeoutError:
        row = None
    if row is None:
        raise RuntimeError(f"no stored call from {caller_id}: sipp {res.returncode} "
                           f"{res.stderr[-500:]} {res.messages[-1500:]}")  # fmt: skip
    return row
