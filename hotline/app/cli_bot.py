"""`hotline bot ...` subcommands: talk to the voice bot's brain without a phone."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime


def _fixed_or_real_clock(at: str | None) -> Callable[[], datetime]:
    if not at:
        return lambda: datetime.now(UTC)
    try:
        fixed = datetime.fromisoformat(at)
    except ValueError:
        raise SystemExit(f"hotline bot chat: --now {at!r} is not an ISO date and time") from None
    if fixed.tzinfo is None:
        raise SystemExit("hotline bot chat: --now needs a UTC offset, e.g. 2025-03-01T21:30+03:00")
    return lambda: fixed


def _chat(args: argparse.Namespace) -> int:
    from hotline.app.bootstrap import prepare_database
    from hotline.app.settings import SettingsError, load_settings
    from hotline.db.base import make_engine, make_sessionmaker
    from hotline.logs import setup_logging
    from hotline.problems import YamlFileError
    from lottery.facts import DbLotteryFacts
    from voicebot.chat import chat

    clock = _fixed_or_real_clock(args.now)
    try:
        settings = load_settings(getattr(args, "config", None))
    except (SettingsError, YamlFileError) as exc:
        print(f"hotline: cannot use the settings:\n{exc}", file=sys.stderr)
        return 2
    setup_logging("warning", settings.log.format)  # keep the conversation readable
    color = not args.no_color and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(prepare_database(settings))
        engine = make_engine(settings.database_url)
        try:
            facts = DbLotteryFacts(make_sessionmaker(engine), clock)
            chat(facts, sys.stdin, sys.stdout, clock=clock, runner=runner, color=color)
        except KeyboardInterrupt:
            print(file=sys.stdout)
        finally:
            runner.run(engine.dispose())
    return 0


def _ask(args: argparse.Namespace) -> int:
    """Recognise one WAV, understand it and answer from the database: one JSON object."""
    import json

    from hotline.app.bootstrap import prepare_database
    from hotline.app.settings import SettingsError, load_settings
    from hotline.db.base import make_engine, make_sessionmaker
    from hotline.logs import setup_logging
    from hotline.problems import YamlFileError
    from lottery.facts import DbLotteryFacts
    from voicebot.asr import AsrError
    from voicebot.audio import WavFormatError, read_wav, resample
    from voicebot.gateway import choose_asr

    clock = _fixed_or_real_clock(args.now)
    try:
        pcm, rate = read_wav(args.wav)
    except (OSError, WavFormatError) as exc:
        print(f"hotline bot ask: cannot read {args.wav}: {exc}", file=sys.stderr)
        return 2
    if rate != 8000:
        pcm = resample(pcm, rate, 8000)
    try:
        settings = load_settings(getattr(args, "config", None))
        engine_asr = choose_asr(args.language, args.vosk_model, processes=False)  # one question
    except (SettingsError, YamlFileError, AsrError) as exc:
        print(f"hotline bot ask: {exc}", file=sys.stderr)
        return 2
    setup_logging("warning", settings.log.format)
    rec = engine_asr.recognizer()
    for i in range(0, len(pcm), 3200):
        rec.accept(pcm[i : i + 3200])
    heard = rec.final()

    async def answer() -> dict[str, object]:
        from lottery import answers
        from voicebot.intents import DialogContext, understand

        now = clock()
        u = understand(heard.text, DialogContext(today=now.date()))
        lookup = answers.lookup_for(u.intent, dict(u.slots))
        facts = None
        if lookup is not None:
            await prepare_database(settings)
            db = make_engine(settings.database_url)
            try:
                facts = await DbLotteryFacts(make_sessionmaker(db), clock).fetch(lookup)
            finally:
                await db.dispose()
        reply = answers.compose(u.intent, dict(u.slots), facts, now)
        return {"transcript": heard.text, "confidence": heard.confidence, "intent": u.intent,
                "slots": {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                          for k, v in {**u.slots, **reply.slots}.items()},
                "answer": " ".join(reply.sentences), "asr": engine_asr.name}  # fmt: skip

    result = asyncio.run(answer())
    print(json.dumps(result, ensure_ascii=False))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    b = sub.add_parser("bot", help="talk to the voice bot in the terminal")
    bsub = b.add_subparsers(dest="bot_command", required=True)
    c = bsub.add_parser(
        "chat",
        help="a typed conversation with the bot, answering from the configured database",
        description="Type what a caller would say; '/dtmf 123456#' presses keys, '/quit' hangs up.",
    )
    c.add_argument("--now", help="pretend it is this time (ISO, with offset), e.g. for demos")
    c.add_argument("--no-color", action="store_true", help="plain output even on a terminal")
    c.set_defaults(func=_chat)
    a = bsub.add_parser(
        "ask",
        help="recognise one recorded question (8 kHz mono WAV) and print the bot's answer as JSON",
    )
    a.add_argument("--wav", required=True, help="the caller's question, 8 kHz 16-bit mono WAV")
    a.add_argument("--language", default="en", help="recognition language (default en)")
    a.add_argument("--vosk-model", help="an unpacked Vosk model directory (else the best "
                   "packaged engine for the language)")
    a.add_argument("--now", help="pretend it is this time (ISO, with offset)")
    a.set_defaults(func=_ask)
