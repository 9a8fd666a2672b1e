"""A real PostgreSQL 15 for the tests: Debian's postgresql-15 binaries, a throw-away cluster in a
temporary directory, reachable only through a unix socket inside that directory, run as an
unprivileged system user (postgres refuses to run as root, and the tests run as root).

One server per test session (`tests/conftest.py` starts it the first time a test asks for
PostgreSQL); each test gets a database of its own, made with CREATE DATABASE ... TEMPLATE from a
migrated (or migrated and seeded) template database, and dropped afterwards.

    server = PostgresServer.start()
    server.create_database("t1", template="template_migrated")
    url = server.url("t1")   # postgresql+asyncpg://hotline@/t1?host=<socket dir>
    server.drop_database("t1")
    server.stop()            # the cluster's directory is removed
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

__all__ = ["PG_BIN", "PG_USER", "PostgresServer", "PostgresUnavailable"]

log = structlog.get_logger(__name__)

# Debian's layout (postgresql-15, installed by scripts/install-deps.sh)
PG_BIN = Path(os.environ.get("HOTLINE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
# the system user the server runs as when the tests run as root (made if missing)
PG_USER = os.environ.get("HOTLINE_TEST_PG_USER", "hotline-pgtest")
ROLE = "hotline"  # the database role the tests connect as (the cluster's superuser)
PORT = 5432  # names the socket file only: the server listens on no TCP port
START_TIMEOUT_S = 30.0


class PostgresUnavailable(RuntimeError):
    """The test PostgreSQL cannot be started; the message says why and what to do."""


def _system_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, or None to run it as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(PG_USER)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", "--user-group", PG_USER],
            capture_output=True, text=True, check=False,
        )
        try:  # another test run may have made it at the same moment
            pw = pwd.getpwnam(PG_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"no system user {PG_USER!r} for the test PostgreSQL and useradd failed: "
                f"{made.stderr.strip()}"
            ) from None
        log.info("pgtest.user_created", user=PG_USER, uid=pw.pw_uid)
    return pw.pw_uid, pw.pw_gid


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid)


@dataclass
class PostgresServer:
    root: Path  # the temporary directory: data/, the socket and the log
    process: subprocess.Popen[bytes]
    user: tuple[int, int] | None
    databases: set[str] = field(default_factory=set)

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{ROLE}@/{database}?host={self.socket_dir}&port={PORT}"

    # --- start / stop ----------------------------------------------------------------------

    @classmethod
    def start(cls) -> PostgresServer:
        for tool in ("initdb", "postgres", "psql"):
            if not (PG_BIN / tool).is_file():
                raise PostgresUnavailable(
                    f"{PG_BIN / tool} is missing: install Debian's postgresql-15 "
                    "(scripts/install-deps.sh does, `make test` runs it)"
                )
        user = _system_user()
        root = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
        process: subprocess.Popen[bytes] | None = None
        try:
            data = root / "data"
            data.mkdir(mode=0o700)
            if user is not None:
                _chown_tree(root, *user)
            run_as = _run_as(user)
            initdb = subprocess.run(
                [str(PG_BIN / "initdb"), "-D", str(data), "-U", ROLE, "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                capture_output=True, text=True, check=False, cwd=root, **run_as,
            )
            if initdb.returncode != 0:
                raise PostgresUnavailable(f"initdb failed ({initdb.returncode}): {initdb.stderr.strip()}")
            process = _launch(root, user)
            server = cls(root, process, user)
            server._wait_ready()
        except BaseException:
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(10)
            shutil.rmtree(root, ignore_errors=True)
            raise
        log.info("pgtest.started", dir=str(root), pid=process.pid)
        return server

    def down(self) -> None:
        """Stop the server as an outage would (sessions cut), keeping its data for `up`."""
        if self.process.poll() is None:
            self.process.send_signal(2)
            self.process.wait(20)
        log.info("pgtest.down", dir=str(self.root))

    def up(self) -> None:
        """Start the server again after `down`, on the same data, socket and port."""
        if self.process.poll() is None:
            return
        self.process = _launch(self.root, self.user)
        self._wait_ready()
        log.info("pgtest.up", dir=str(self.root), pid=self.process.pid)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise PostgresUnavailable(
                    f"postgres exited with {self.process.returncode}:\n{self.log_tail()}")
            ready = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-q", "-h", str(self.socket_dir), "-p", str(PORT),
                 "-U", ROLE, "-d", "postgres"], check=False,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise PostgresUnavailable(
                    f"postgres not ready after {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = (self.root / "postgres.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Fast shutdown (SIGINT: ends sessions, no checkpoint wait), then the directory goes."""
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
        log.info("pgtest.stopped", dir=str(self.root))

    # --- databases -------------------------------------------------------------------------

    def sql(self, statement: str, database: str = "postgres") -> str:
        done = subprocess.run(
            [str(PG_BIN / "psql"), "-h", str(self.socket_dir), "-p", str(PORT), "-U", ROLE,
             "-d", database, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", statement],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql {statement!r}: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, name: str, template: str = "template0") -> None:
        # FILE_COPY: a plain copy of the template's files (fsync is off), faster than
        # PostgreSQL 15's default WAL_LOG for these small databases
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        self.databases.add(name)

    def drop_database(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.databases.discard(name)


def _launch(root: Path, user: tuple[int, int] | None) -> subprocess.Popen[bytes]:
    with open(root / "postgres.log", "ab") as logfile:  # the server keeps its own copy
        return subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(root / "data"), "-k", str(root), "-p", str(PORT),
             "-c", "listen_addresses=",  # the socket in root/ only: no TCP port at all
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=300",
             # not UTC on purpose: the service must not depend on the server's time zone
             "-c", "timezone=Europe/Moscow"],
            stdout=logfile, stderr=subprocess.STDOUT, cwd=root, start_new_session=True,
            **_run_as(user),
        )


def _run_as(user: tuple[int, int] | None) -> dict[str, object]:
    if user is None:
        return {}
    uid, gid = user
    return {"user": uid, "group": gid, "extra_groups": [], "umask": 0o077,
            "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
                    "HOME": "/nonexistent", "USER": pwd.getpwuid(uid).pw_name,
                    "LOGNAME": pwd.getpwuid(uid).pw_name}}
