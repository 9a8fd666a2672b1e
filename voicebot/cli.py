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
    from hotline.cli import prepare_database
    from hotline.db import make_engine, make_sessionmaker
    from hotline.logs import setup_logging
    from hotline.lottery import DbLotteryFacts
    from hotline.settings import SettingsError, load_settings
    from hotline.yamlsrc import YamlFileError
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
