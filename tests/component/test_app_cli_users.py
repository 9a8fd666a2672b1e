"""`hotline user ...` against a new database (SQLite and PostgreSQL) in production mode: the
first admin, refusals with exit 2 and nothing written, list, passwd, disable and enable."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import hotline.logs
from backoffice.auth import Authenticator, verify_password
from backoffice.models import AuthSessionRow, Role, UserRow
from directory.tables import OperatorRow
from hotline.api_errors import ApiError
from hotline.app import cli_users as user_cli
from hotline.app.cli import main
from hotline.db.base import make_engine, make_sessionmaker
from recordings.settings import AuthSettings
from tests.support.databases import DbBackend

pytestmark = pytest.mark.component

PASSWORD = "first-admin-pass-42"


@pytest.fixture
def hotline_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                 db_backend: DbBackend) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """Run `hotline user ARGS...` with `stdin`; returns (exit code, stdout, stderr)."""
    with db_backend.empty_sync(tmp_path, "users") as url:
        (tmp_path / "db.url").write_text(url)  # for db() below
        yield _runner(tmp_path, url, monkeypatch, capsys)


def _runner(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    config = tmp_path / "hotline.yaml"
    config.write_text(f"mode: production\ndatabase:\n  url: {url}\n")
    monkeypatch.delenv("HOTLINE_DATABASE__URL", raising=False)
    monkeypatch.setattr(hotline.logs, "setup_logging", lambda *a, **k: None)  # keep global logging

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))  # not a terminal
        code = main(["--config", str(config), "user", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def db(tmp_path: Path, work: Callable[[Any], Any]) -> Any:
    """Run `await work(sessionmaker)` against the test database."""
    async def go() -> Any:
        engine = make_engine((tmp_path / "db.url").read_text())
        try:
            return await work(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def login(tmp_path: Path, username: str, password: str) -> str:
    """Log in through `backoffice.auth`; the session id, or the API error id."""
    async def work(sm: Any) -> str:
        auth = Authenticator(sm, AuthSettings(), "s" * 48)
        try:
            await auth.login(username, password)
        except ApiError as exc:
            return exc.error_id
        async with sm() as s:
            return str(await s.scalar(select(AuthSessionRow.id).order_by(AuthSessionRow.created_at.desc())))

    return db(tmp_path, work)


def operators(tmp_path: Path) -> list[str]:
    async def work(sm: Any) -> list[str]:
        async with sm() as s:
            return list((await s.scalars(select(OperatorRow.extension))).all())

    return db(tmp_path, work)


def users(tmp_path: Path) -> dict[str, UserRow]:
    async def work(sm: Any) -> dict[str, UserRow]:
        async with sm() as s:
            return {u.username: u for u in (await s.scalars(select(UserRow))).all()}

    return db(tmp_path, work)


def open_sessions(tmp_path: Path, username: str) -> int:
    async def work(sm: Any) -> int:
        async with sm() as s:
            return int(await s.scalar(
                select(func.count()).select_from(AuthSessionRow).join(UserRow, UserRow.id == AuthSessionRow.user_id)
                .where(UserRow.username == username, AuthSessionRow.revoked_at.is_(None))) or 0)

    return db(tmp_path, work)


def test_roles_are_the_models() -> None:
    assert user_cli.ROLES == tuple(r.value for r in Role)


def test_first_admin_logs_in(tmp_path: Path, hotline_user: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = hotline_user("add", "admin", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert (code, err) == (0, "")
    assert "created user admin (role admin)" in out and PASSWORD not in out
    admin = users(tmp_path)["admin"]
    assert admin.role == "admin" and admin.active and admin.operator_id is None
    assert admin.password_hash.startswith("$argon2id$") and verify_password(admin.password_hash, PASSWORD)
    assert login(tmp_path, "admin", PASSWORD) != "login_failed"
    assert login(tmp_path, "admin", PASSWORD + "x") == "login_failed"


def test_refusals_exit_2_and_write_nothing(tmp_path: Path,
                                           hotline_user: Callable[..., tuple[int, str, str]]) -> None:
    assert hotline_user("add", "admin", "--role", "admin", "--password-stdin", stdin=PASSWORD)[0] == 0
    before = users(tmp_path)["admin"].password_hash

    code, out, err = hotline_user("add", "admin", "--role", "qa", "--password-stdin", stdin="other-pass-0123456")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "user 'admin' already exists" in err
    assert users(tmp_path)["admin"].password_hash == before and users(tmp_path)["admin"].role == "admin"

    code, _, err = hotline_user("add", "qa", "--role", "qa", "--password-stdin", stdin="short-11ch\n")
    assert code == 2 and err.strip() == "hotline user add: the password is too short: at least 12 characters"

    code, _, err = hotline_user("add", "op", "--role", "operator", "--operator", "9999",
                                "--password-stdin", stdin=PASSWORD)
    assert code == 2 and err.strip() == ("hotline user add: no operator with extension '9999' "
                                         "(see the directory)")

    code, _, err = hotline_user("add", "op", "--role", "operator", "--password-stdin", stdin=PASSWORD)
    assert code == 2 and "needs --operator" in err

    code, _, err = hotline_user("add", "Bad Name", "--role", "qa", "--password-stdin", stdin=PASSWORD)
    assert code == 2 and "a username is 2-64 characters" in err

    code, _, err = hotline_user("add", "qa", "--role", "qa", "--password-stdin", stdin="")
    assert code == 2 and "no password" in err
    assert set(users(tmp_path)) == {"admin"}


def test_operator_link_and_list_without_hashes(tmp_path: Path,
                                               hotline_user: Callable[..., tuple[int, str, str]]) -> None:
    # production loads no demo directory: the operator comes from the admin API (here its row)
    assert hotline_user("list")[0] == 0  # migrated, and empty
    assert operators(tmp_path) == []

    async def add_operator(sm: Any) -> None:
        async with sm() as s, s.begin():
            s.add(OperatorRow(name="Anna Petrova", extension="1001",
                              sip_password="production-sip-pass-1001"))

    db(tmp_path, add_operator)
    code, out, _ = hotline_user("add", "anna", "--role", "operator", "--operator", "1001",
                                "--password-stdin", stdin=PASSWORD)
    assert code == 0 and "operator 1001" in out
    assert hotline_user("add", "admin", "--role", "admin", "--password-stdin", stdin=PASSWORD)[0] == 0
    assert users(tmp_path)["anna"].operator_id is not None
    login(tmp_path, "admin", PASSWORD)

    code, out, err = hotline_user("list")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["USERNAME", "ROLE", "OPERATOR", "ACTIVE", "LAST", "LOGIN"]
    admin_row, anna_row = lines[1].split(), lines[2].split()
    assert admin_row[:4] == ["admin", "admin", "-", "yes"] and admin_row[-1] == "UTC"
    assert anna_row == ["anna", "operator", "1001", "yes", "never"]
    assert "argon2" not in out and "$" not in out


def test_generated_password_without_a_terminal(tmp_path: Path,
                                               hotline_user: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = hotline_user("add", "qa", "--role", "qa")  # stdin is not a terminal
    assert code == 0
    generated = out.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    assert len(generated) >= 20 and "shown only now" in out
    assert login(tmp_path, "qa", generated) != "login_failed"


def test_passwd_changes_the_password_and_ends_sessions(tmp_path: Path,
                                                       hotline_user: Callable[..., tuple[int, str, str]]) -> None:
    assert hotline_user("add", "qa", "--role", "qa", "--password-stdin", stdin=PASSWORD)[0] == 0
    login(tmp_path, "qa", PASSWORD)
    login(tmp_path, "qa", PASSWORD)
    assert open_sessions(tmp_path, "qa") == 2

    code, _, err = hotline_user("passwd", "qa", "--password-stdin", stdin="too-short\n")
    assert code == 2 and "too short" in err and open_sessions(tmp_path, "qa") == 2
    code, _, err = hotline_user("passwd", "nobody", "--password-stdin", stdin="new-pass-0123456789")
    assert code == 2 and err.strip() == "hotline user passwd: no user named 'nobody'"

    code, out, _ = hotline_user("passwd", "qa", "--password-stdin", stdin="new-pass-0123456789\n")
    assert code == 0 and "2 open session(s) ended" in out
    assert open_sessions(tmp_path, "qa") == 0
    assert login(tmp_path, "qa", PASSWORD) == "login_failed"
    assert login(tmp_path, "qa", "new-pass-0123456789") != "login_failed"


def test_disable_and_enable(tmp_path: Path, hotline_user: Callable[..., tuple[int, str, str]]) -> None:
    assert hotline_user("add", "admin", "--role", "admin", "--password-stdin", stdin=PASSWORD)[0] == 0
    assert hotline_user("add", "qa", "--role", "qa", "--password-stdin", stdin=PASSWORD)[0] == 0
    login(tmp_path, "qa", PASSWORD)

    code, out, err = hotline_user("disable", "qa")
    assert (code, err) == (0, "") and "user qa disabled; 1 open session(s) ended" in out
    assert open_sessions(tmp_path, "qa") == 0 and not users(tmp_path)["qa"].active
    assert login(tmp_path, "qa", PASSWORD) == "login_failed"
    assert "yes" not in hotline_user("list")[1].splitlines()[2]

    code, out, _ = hotline_user("enable", "qa")
    assert code == 0 and "user qa enabled" in out
    assert login(tmp_path, "qa", PASSWORD) != "login_failed"

    assert hotline_user("disable", "nobody")[0] == 2
    code, _, err = hotline_user("disable", "admin")  # allowed (this is the recovery tool), with a note
    assert code == 0 and "no active admin is left" in err
    assert hotline_user("enable", "admin")[0] == 0
