"""A text conversation with the bot's brain: the same `Dialog`, `understand` and facts as a call.

Each typed line is a caller utterance; `/dtmf 123456#` presses keys, `/silence` lets the caller's
turn time out, `/quit` hangs up. The loop is synchronous: input is read with a plain blocking
`readline()` (so Ctrl-C and Ctrl-D behave as in any terminal program) and each database lookup
runs on an `asyncio.Runner` the caller owns, the loop the facts' engine lives on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from lottery.answers import Facts, LotteryFacts
from voicebot.dialog import (
    AskLookup,
    Dialog,
    Effect,
    EndCall,
    Say,
    Transfer,
    TransferContext,
)
from voicebot.intents import Understanding, understand

__all__ = ["ChatOutcome", "chat", "format_slots"]

DTMF_KEYS = set("0123456789#*")
HELP = (
    "Type what a caller would say. Commands: /dtmf 123456# (press keys), "
    "/silence (say nothing), /quit (hang up). Ctrl-D ends the chat."
)

_DIM, _BOLD, _RESET = "\x1b[2m", "\x1b[1m", "\x1b[0m"


@dataclass(frozen=True, slots=True)
class ChatOutcome:
    how: str  # "transfer" | "ended" | "hangup" | "eof"
    transfer: TransferContext | None = None


def format_slots(slots: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in slots.items()) or "-"


class _Printer:
    def __init__(self, out: TextIO, color: bool) -> None:
        self.out = out
        self.color = color

    def bot(self, sentence: str) -> None:
        label = f"{_BOLD}bot>{_RESET}" if self.color else "bot>"
        self.out.write(f"{label} {sentence}\n")

    def note(self, text: str) -> None:
        """What the bot understood or did: dimmed on a terminal, `  ~` prefixed always."""
        line = f"  ~ {text}"
        self.out.write(f"{_DIM}{line}{_RESET}\n" if self.color else f"{line}\n")

    def caller(self, text: str) -> None:
        self.out.write(f"you> {text}\n")

    def flush(self) -> None:
        self.out.flush()


def chat(
    facts: LotteryFacts,
    inp: TextIO,
    out: TextIO,
    *,
    clock: Callable[[], datetime],
    runner: asyncio.Runner | None = None,
    dialog: Dialog | None = None,
    color: bool = False,
    echo: bool | None = None,
) -> ChatOutcome:
    """Converse until the bot transfers or ends the call, `/quit`, or end of input.

    `echo` repeats each input line after a `you>` label (default: when `inp` is not a terminal,
    so a piped transcript reads like a conversation); on a terminal a `you>` prompt is shown.
    """
    if runner is None:
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as own:
            return chat(facts, inp, out, clock=clock, runner=own, dialog=dialog, color=color,
                        echo=echo)  # fmt: skip
    interactive = _isatty(inp)
    echo = (not interactive) if echo is None else echo
    p = _Printer(out, color)
    d = dialog or Dialog()
    p.note(HELP)
    outcome = _carry_out(d.start(clock()), d, facts, runner, p, clock)
    while outcome is None:
        if interactive:
            out.write("you> ")
        p.flush()
        raw = inp.readline()
        if not raw:
            d.hangup(clock())
            return ChatOutcome("eof")
        line = raw.strip()
        if not line:
            continue
        if echo:
            p.caller(line)
        outcome = _one_line(line, d, facts, runner, p, clock)
    p.flush()
    return outcome


def _one_line(
    line: str,
    d: Dialog,
    facts: LotteryFacts,
    runner: asyncio.Runner,
    p: _Printer,
    clock: Callable[[], datetime],
) -> ChatOutcome | None:
    command, _, rest = line.partition(" ")
    if command in ("/quit", "/hangup", "/exit"):
        d.hangup(clock())
        p.note("caller hung up")
        return ChatOutcome("hangup")
    if command in ("/help", "/?"):
        p.note(HELP)
        return None
    if command == "/silence":
        d.turn_finished(clock())
        return _run_timers(d, facts, runner, p, clock, "caller said nothing")
    if command == "/dtmf":
        keys = rest.replace(" ", "")
        if not keys or not set(keys) <= DTMF_KEYS:
            p.note("/dtmf takes keys 0-9, # and *, e.g. /dtmf 123456#")
            return None
        for key in keys:
            outcome = _carry_out(d.dtmf(key, clock()), d, facts, runner, p, clock)
            if outcome is not None:
                return outcome
        # keys without a closing # would wait for the digit timeout on a call: let it pass
        return _run_timers(d, facts, runner, p, clock, "no more keys")
    if command.startswith("/"):
        p.note(f"unknown command {command}; /help lists them")
        return None
    now = clock()
    u = understand(line, d.context(now))
    p.note(_describe(u))
    return _carry_out(d.utterance(line, now, u), d, facts, runner, p, clock)


def _run_timers(
    d: Dialog,
    facts: LotteryFacts,
    runner: asyncio.Runner,
    p: _Printer,
    clock: Callable[[], datetime],
    why: str,
) -> ChatOutcome | None:
    deadline = d.next_deadline
    if deadline is None:
        return None
    p.note(why)
    return _carry_out(d.tick(deadline), d, facts, runner, p, clock)


def _carry_out(
    effects: list[Effect],
    d: Dialog,
    facts: LotteryFacts,
    runner: asyncio.Runner,
    p: _Printer,
    clock: Callable[[], datetime],
) -> ChatOutcome | None:
    queue = list(effects)
    while queue:
        effect = queue.pop(0)
        if isinstance(effect, Say):
            for sentence in effect.sentences:
                p.bot(sentence)
        elif isinstance(effect, AskLookup):
            lk = effect.lookup
            asked = {
                k: v for k, v in (("ticket", lk.ticket), ("game", lk.game), ("day", lk.day)) if v
            }
            p.note(f"lookup {lk.intent} {format_slots(asked)}")
            try:
                found: Facts = runner.run(facts.fetch(lk))
            except Exception as exc:  # a failed lookup is part of the conversation, as on a call
                p.note(f"lookup failed: {type(exc).__name__}: {exc}")
                queue.extend(d.lookup_failed(effect.request_id, clock()))
            else:
                queue.extend(d.lookup_done(effect.request_id, found, clock()))
        elif isinstance(effect, Transfer):
            _print_transfer(effect.context, p)
            return ChatOutcome("transfer", effect.context)
        elif isinstance(effect, EndCall):
            p.note(f"call ended ({effect.reason})")
            return ChatOutcome("ended")
    return None


def _describe(u: Understanding) -> str:
    return f"understood {u.intent} ({u.confidence:.2f}) slots: {format_slots(u.slots)}"


def _print_transfer(ctx: TransferContext, p: _Printer) -> None:
    p.note("transferred to an operator")
    p.note(f"  reason: {ctx.reason}")
    p.note(f"  intent: {ctx.intent or '-'}")
    p.note(f"  slots:  {format_slots(ctx.slots)}")
    p.note("  transcript:")
    for entry in ctx.transcript:
        p.note(f"    {entry.at:%H:%M:%S} {entry.speaker}: {entry.text}")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
