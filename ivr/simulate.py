"""Walk a dialplan on a terminal: see what a caller hears, type what a caller presses.

Each `[keys]` line takes keys (`1`, `12345#`) or an empty line for silence; end of input
hangs up.  At a bot node the typed words go to the `bot` callback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TextIO

from ivr.machine import (
    BotFinished,
    CallerHungUp,
    CallerInfo,
    CallState,
    Effect,
    Event,
    GetDigits,
    Hangup,
    Input,
    Lookup,
    LookupResult,
    Play,
    PromptFinished,
    ResolvedPrompt,
    StartBot,
    Transfer,
    TransferResult,
    start,
    step,
)
from ivr.model import Dialplan

BotFn = Callable[[str, StartBot], tuple[str, BotFinished]]
LookupFn = Callable[[Lookup], str | None]
TransferFn = Callable[[Transfer], str]


def stub_bot(words: str, request: StartBot) -> tuple[str, BotFinished]:
    """Say what a bot would answer; ask for an operator when the caller does."""
    if "operator" in words.lower() or "оператор" in words.lower():
        return "let me connect you to an operator", BotFinished("operator", intent="operator")
    return f"bot would answer: {words}", BotFinished("done", intent="question")


def stub_lookup(request: Lookup) -> str | None:
    args = " ".join(f"{k}={v}" for k, v in request.args.items())
    return f"[lookup {request.query}{' ' + args if args else ''}]"


def stub_transfer(request: Transfer) -> str:
    return "answered"


def describe(prompt: ResolvedPrompt) -> str:
    if prompt.file is not None:
        return f"<file {prompt.file}>"
    return prompt.text or ""


def _context(ctx: Mapping[str, object]) -> str:
    keys = ("reason", "via", "category", "intent", "vip", "language")
    return ", ".join(f"{k}={ctx[k]}" for k in keys if ctx.get(k) not in (None, False))


def run(
    dialplan: Dialplan,
    input_stream: TextIO,
    output_stream: TextIO,
    caller: CallerInfo | None = None,
    now: datetime | None = None,
    bot: BotFn = stub_bot,
    lookup: LookupFn = stub_lookup,
    transfer: TransferFn = stub_transfer,
) -> CallState:
    """Play one call to the end; returns the final state (with the path taken)."""
    now = now or datetime.now(UTC)
    out = output_stream

    def say(line: str) -> None:
        print(line, file=out)

    def read(label: str) -> str | None:
        out.write(f"[{label}] ")
        out.flush()
        line = input_stream.readline()
        if not line:
            say("")
            return None
        line = line.rstrip("\n")
        if not input_stream.isatty():
            say(line)  # echo scripted input so the transcript reads like a session
        return line.strip()

    caller = caller or CallerInfo()
    say(f"[call] from {caller.number or 'unknown'}" + (f" ({caller.name})" if caller.name else ""))
    state, effects = start(dialplan, caller, now)
    while True:
        event: Event | None = None
        for effect in effects:
            event = _carry_out(effect, say, read, bot, lookup, transfer) or event
        if state.finished:
            say(f"[end] {state.outcome}")
            return state
        if event is None:  # pragma: no cover - every awaiting state has an effect
            raise RuntimeError(f"nothing to wait for in {state.awaiting}")
        state, effects = step(dialplan, state, event, now)


def _carry_out(
    effect: Effect,
    say: Callable[[str], None],
    read: Callable[[str], str | None],
    bot: BotFn,
    lookup: LookupFn,
    transfer: TransferFn,
) -> Event | None:
    if isinstance(effect, Play):
        for p in effect.prompts:
            say(f"[hears] {describe(p)}")
        return PromptFinished()
    if isinstance(effect, GetDigits):
        for p in effect.prompts:
            say(f"[hears] {describe(p)}")
        keys = read("keys")
        return CallerHungUp() if keys is None else Input(keys or None)
    if isinstance(effect, Lookup):
        return LookupResult(lookup(effect))
    if isinstance(effect, StartBot):
        say(f"[bot] topic={effect.topic or '-'} language={effect.language}")
        words = read("say")
        if words is None:
            return CallerHungUp()
        reply, finished = bot(words, effect)
        say(f"[hears] {reply}")
        return finished
    if isinstance(effect, Transfer):
        say(f"[transfer] {_context(effect.context)}")
        result = transfer(effect)
        say(f"[transfer] {result}")
        return TransferResult("answered" if result == "answered" else "failed")
    if isinstance(effect, Hangup):
        say(f"[hangup] {effect.reason}")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """`hotline dialplan simulate FILE [--known NAME] [--vip] [--at ISO-TIME]`."""
    from ivr.check import DialplanError, load_dialplan

    parser = argparse.ArgumentParser(
        prog="hotline dialplan simulate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("file")
    parser.add_argument("--number", default="+70000000000")
    parser.add_argument("--known", metavar="NAME", help="simulate a known caller with this name")
    parser.add_argument("--vip", action="store_true")
    parser.add_argument("--language")
    parser.add_argument("--at", help="call time, ISO 8601 (default: now)")
    parser.add_argument("--transfer-fails", action="store_true")
    args = parser.parse_args(argv)
    try:
        dialplan = load_dialplan(args.file)
    except DialplanError as exc:
        print(exc, file=sys.stderr)
        return 1
    caller = CallerInfo(
        number=args.number,
        name=args.known,
        known=bool(args.known),
        vip=args.vip,
        language=args.language,
    )
    now = datetime.fromisoformat(args.at) if args.at else None
    run(
        dialplan,
        sys.stdin,
        sys.stdout,
        caller=caller,
        now=now,
        transfer=(lambda _t: "failed") if args.transfer_fails else stub_transfer,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
