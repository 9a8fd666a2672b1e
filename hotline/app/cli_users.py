"""`hotline user ...`: web users of the QA page and HTTP API, from the shell.

In production mode this is how the first admin is made (the API's user endpoints need one):

    hotline user add admin --role admin

Every command applies migrations first (`hotline.app.bootstrap.prepare_database`, as `hotline db`
does), exits 0 on success and 2 with a one-line message on a user error. Usernames and
passwords follow the API's rules (`backoffice.users.UserIn`): 2-64 characters of a-z, 0-9,
'.', '_', '-'; passwords of at least 12 characters.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

# Database, hashing and web modules are imported when a `user` command runs, not when the
# `hotline` parser is built for every other command.
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from backoffice.models import UserRow

    Sessions = async_sessionmaker[AsyncSession]

ROLES = ("admin", "qa", "operator", "team_lead")  # recordings.models.Role (a test keeps them equal)


class UserError(Exception):
    """A mistake of the person at the keyboard: one line on stderr, exit 2."""


# -- validation and passwords -------------------------------------------------------------


def _validation_message(exc: Any) -> str:
    """One line from the API models' validation error (pydantic)."""
    err = exc.errors()[0]
    field, ctx = str(err["loc"][0]), err.get("ctx") or {}
    if field == "password":
        if "min_length" in ctx:
            return f"the password is too short: at least {ctx['min_length']} characters"
        if "max_length" in ctx:
            return f"the password is too long: at most {ctx['max_length']} characters"
    if field == "username":
        return "a username is 2-64 characters of a-z, 0-9, '.', '_' and '-'"
    return f"{field}: {err['msg']}"


def _check_username(username: str) -> None:
    from pydantic import ValidationError

    from backoffice.users import UserIn

    try:  # the same rules as POST /api/admin/users; the password here only fills the form
        UserIn(username=username, password="x" * 12, role="qa")
    except ValidationError as exc:
        raise UserError(_validation_message(exc)) from None


def _check_password(password: str) -> None:
    from pydantic import ValidationError

    from backoffice.users import UserPatch

    try:  # the same rules as PATCH /api/admin/users/{id}
        UserPatch(password=password)
    except ValidationError as exc:
        raise UserError(_validation_message(exc)) from None


def _read_password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated): one line of stdin, a prompt twice on a terminal, or else a
    random one (then the caller prints it once)."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise UserError("--password-stdin: no password on standard input")
    elif sys.stdin.isatty():
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Password (again): ")
        except EOFError:
            raise UserError("no password given") from None
        if password != again:
            raise UserError("the two passwords differ")
    else:
        return secrets.token_urlsafe(18), True  # 24 characters, 144 random bits
    _check_password(password)
    return password, False


def _show_generated(username: str, password: str) -> None:
    print(f"generated password for {username} (shown only now, keep it safe): {password}")


# -- database -------------------------------------------------------------------------------


async def _user(s: AsyncSession, username: str) -> UserRow:
    from sqlalchemy import select

    from backoffice.models import UserRow

    row = await s.scalar(select(UserRow).where(UserRow.username == username))
    if row is None:
        raise UserError(f"no user named {username!r}")
    return row


async def _operator_id(sm: Sessions, extension: str) -> int:
    from sqlalchemy import select

    from directory.tables import OperatorRow

    async with sm() as s:
        op_id = await s.scalar(select(OperatorRow.id).where(OperatorRow.extension == extension))
    if op_id is None:
        raise UserError(f"no operator with extension {extension!r} (see the directory)")
    return int(op_id)


async def _add(sm: Sessions, args: argparse.Namespace) -> None:
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from backoffice.auth import create_user
    from backoffice.models import LINKED_ROLES, Role, UserRow

    role = Role(args.role)
    _check_username(args.username)
    if role in LINKED_ROLES and args.operator is None:
        raise UserError(f"a {role.value} user needs --operator EXTENSION")
    operator_id = await _operator_id(sm, args.operator) if args.operator is not None else None
    async with sm() as s:
        if await s.scalar(select(UserRow.id).where(UserRow.username == args.username)) is not None:
            raise UserError(f"user {args.username!r} already exists (change its password with "
                            f"`hotline user passwd {args.username}`)")
    password, generated = _read_password(args.password_stdin)
    try:
        await create_user(sm, args.username, password, role, operator_id)
    except IntegrityError:  # created meanwhile by someone else
        raise UserError(f"user {args.username!r} already exists") from None
    link = f", operator {args.operator}" if args.operator is not None else ""
    print(f"created user {args.username} (role {role.value}{link})")
    if generated:
        _show_generated(args.username, password)


async def _passwd(sm: Sessions, args: argparse.Namespace) -> None:
    from backoffice.auth import hash_password, revoke_sessions
    from hotline.clock import utcnow

    async with sm() as s:
        await _user(s, args.username)  # before asking for a password
    password, generated = _read_password(args.password_stdin)
    pw_hash = await asyncio.to_thread(hash_password, password)
    async with sm() as s, s.begin():
        user = await _user(s, args.username)
        user.password_hash = pw_hash
        ended = await revoke_sessions(s, user.id, utcnow())
    print(f"password changed for {args.username}; {ended} open session(s) ended")
    if generated:
        _show_generated(args.username, password)


async def _set_active(sm: Sessions, username: str, active: bool) -> None:
    from sqlalchemy import select

    from backoffice.auth import revoke_sessions
    from backoffice.models import Role, UserRow
    from hotline.clock import utcnow

    async with sm() as s, s.begin():
        user = await _user(s, username)
        was = user.active
        user.active = active
        ended = 0 if active else await revoke_sessions(s, user.id, utcnow())
    state = "enabled" if active else "disabled"
    print(f"user {username} {'was already ' if was == active else ''}{state}"
          + (f"; {ended} open session(s) ended" if ended else ""))
    if not active:
        async with sm() as s:
            admin = await s.scalar(select(UserRow.id).where(UserRow.role == Role.ADMIN.value,
                                                            UserRow.active).limit(1))
        if admin is None:
            print("note: no active admin is left; add one with "
                  "`hotline user add NAME --role admin`", file=sys.stderr)


async def _disable(sm: Sessions, args: argparse.Namespace) -> None:
    await _set_active(sm, args.username, False)


async def _enable(sm: Sessions, args: argparse.Namespace) -> None:
    await _set_active(sm, args.username, True)


def _when(dt: Any) -> str:
    from hotline.clock import aware

    return "never" if dt is None else aware(dt).strftime("%Y-%m-%d %H:%M UTC")


async def _list(sm: Sessions, args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from backoffice.models import UserRow
    from directory.tables import OperatorRow

    async with sm() as s:
        rows = (await s.execute(
            select(UserRow.username, UserRow.role, OperatorRow.extension, UserRow.active,
                   UserRow.last_login_at)
            .outerjoin(OperatorRow, OperatorRow.id == UserRow.operator_id)
            .order_by(UserRow.username)
        )).all()
    if not rows:
        print("no users (add one with `hotline user add NAME --role admin`)")
        return
    table = [("USERNAME", "ROLE", "OPERATOR", "ACTIVE", "LAST LOGIN")]
    table += [(r.username, r.role, r.extension or "-", "yes" if r.active else "no",
               _when(r.last_login_at)) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


# -- entry ----------------------------------------------------------------------------------


async def _with_database(settings: Any,
                         action: Callable[[Sessions, argparse.Namespace], Awaitable[None]],
                         args: argparse.Namespace) -> None:
    from hotline.app.bootstrap import prepare_database
    from hotline.db.base import make_engine, make_sessionmaker

    await prepare_database(settings)  # migrations (and the demo data into an empty database)
    engine = make_engine(settings.database_url)
    try:
        await action(make_sessionmaker(engine), args)
    finally:
        await engine.dispose()


def _run(args: argparse.Namespace) -> int:
    from hotline.app.bootstrap import settings_or_exit as _settings
    from hotline.logs import setup_logging
    from hotline.problems import YamlFileError

    settings = _settings(args)  # a broken settings file: one message, exit 2
    setup_logging("warning", settings.log.format)  # logs on stderr; stdout stays the answer
    try:
        asyncio.run(_with_database(settings, args.user_action, args))
    except UserError as exc:
        print(f"hotline user {args.user_command}: {exc}", file=sys.stderr)
        return 2
    except YamlFileError as exc:  # the directory file loaded into an empty database
        print(f"hotline user {args.user_command}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    u = sub.add_parser(
        "user", help="web users of the QA page and API (the first admin, passwords)",
        description="Manage the users of the QA web page and HTTP API. In production this is "
        "how the first admin is made: hotline user add admin --role admin. Usernames: 2-64 "
        "characters of a-z, 0-9, '.', '_', '-'; passwords: at least 12 characters. Migrations "
        "are applied first; exit 0 on success, 2 on a mistake.")
    usub = u.add_subparsers(dest="user_command", required=True)
    pw_help = ("read the password from one line of standard input (default: ask twice on a "
               "terminal; without a terminal, generate one and print it once)")

    a = usub.add_parser("add", help="create a user")
    a.add_argument("username")
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--operator", metavar="EXT",
                   help="link the operator with this extension (required for --role operator and team_lead)")
    a.add_argument("--password-stdin", action="store_true", help=pw_help)
    a.set_defaults(func=_run, user_action=_add)

    ls = usub.add_parser("list", help="list users (no password hashes)")
    ls.set_defaults(func=_run, user_action=_list)

    p = usub.add_parser("passwd", help="set a user's password (ends the user's open sessions)")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true", help=pw_help)
    p.set_defaults(func=_run, user_action=_passwd)

    d = usub.add_parser("disable", help="disable a user (ends the user's open sessions)")
    d.add_argument("username")
    d.set_defaults(func=_run, user_action=_disable)

    e = usub.add_parser("enable", help="enable a disabled user")
    e.add_argument("username")
    e.set_defaults(func=_run, user_action=_enable)
