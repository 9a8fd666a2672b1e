"""`hotline dialplan ...` subcommands: check, simulate, schema."""

from __future__ import annotations

import argparse


def _check(args: argparse.Namespace) -> int:
    from ivr.check import main

    return main(args.rest)


def _simulate(args: argparse.Namespace) -> int:
    from ivr.simulate import main

    return main(args.rest)


def _schema(args: argparse.Namespace) -> int:
    from ivr.schema import SCHEMA_PATH, write_schema

    write_schema(SCHEMA_PATH)
    print(f"wrote {SCHEMA_PATH}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    d = sub.add_parser("dialplan", help="check, simulate or describe YAML dialplans")
    dsub = d.add_subparsers(dest="dialplan_command", required=True)
    for name, func, help_ in (
        ("check", _check, "report every problem in dialplan files (file:line:column)"),
        ("simulate", _simulate, "walk a dialplan in the terminal, typing keys"),
        ("schema", _schema, "regenerate dialplan/hotline.schema.json"),
    ):
        p = dsub.add_parser(name, help=help_, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=func)
