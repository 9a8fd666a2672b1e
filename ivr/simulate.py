"""Walk a dialplan on a terminal: see what a caller hears, type what a caller presses.

Each `[keys]` line takes keys (`1`, `12345#`) or an empty line for silence; end of input
hangs up.  At a bot node the typed words go to the `bot` callback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from callrouting.waiting import estimate_wait
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
from ivr.waiting import announcement

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


@dataclass(frozen=True)
class QueueScene:
    """The pool as the simulated caller finds it: their place and the operators at work."""

    position: int = 1
    free: int = 0
    busy: int = 2


def queue_lines(dialplan: Dialplan, transfer: Transfer, scene: QueueScene) -> list[str]:
    """What a caller waiting in the pool would hear, with the service's estimate for `scene`
    (no history: the default handling time)."""
    q = dialplan.queue
    if q is None:
        return []
    vip = bool(transfer.context.get("vip"))
    language = str(transfer.context.get("language") or dialplan.default_language)
    estimate = estimate_wait(scene.position, waiting=max(scene.position, 1), free=scene.free,
                             busy=scene.busy, wrapup_s=q.wrapup, vip=vip)
    lines = [f"[queue] music={q.music}, announcements every {q.announce_every} s, "
             f"wrap-up {q.wrapup} s"]
    if q.overflow is not None:
        who = "the team leads" if q.overflow.ring == "team_leads" else f"team {q.overflow.team}"
        lines.append(f"[queue] after {q.overflow.after} s of waiting {who} ring too")
    if q.callback is not None:
        cb = q.callback
        lines.append(f"[queue] key {cb.key}: callback, {cb.attempts} tries {cb.retry_after} s apart"
                     + (", in business hours" if cb.business_hours_only else "")
                     + (", or say 'call me back'" if cb.listen else ""))
    lines.append(f"[hears] {announcement(q, estimate, language, dialplan.default_language)}")
    return lines


def run(
    dialplan: Dialplan,
    input_stream: TextIO,
    output_stream: TextIO,
    caller: CallerInfo | None = None,
    now: datetime | None = None,
    bot: BotFn = stub_bot,
    lookup: LookupFn = stub_lookup,
    transfer: TransferFn = stub_transfer,
    scene: QueueScene | None = None,
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
            if isinstance(effect, Transfer):
                for line in queue_lines(dialplan, effect, scene or QueueScene()):
                    say(line)
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
    parser.add_argument("--queue-position", type=int, default=1,
                        help="the caller's place in the pool queue (1 = next)")
    parser.add_argument("--operators-free", type=int, default=0)
    parser.add_argument("--operators-busy", type=int, default=2)
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
        scene=QueueScene(args.queue_position, args.operators_free, args.operators_busy),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
