"""What the README tells a newcomer, in a fresh clone: `make run`, `make call`, then Ctrl-C.

The repository under test (this worktree) is cloned at its committed HEAD, or at the commit in
HOTLINE_NEWCOMER_REF (e.g. an old one, to see the test catch a fresh-clone bug). The clone makes
its own `.venv` and pip-installs into it, restores its own Asterisk root from the cached tarball
(~/.cache/hotline/asterisk22-sid-root.tar.zst; built by debootstrap when missing), migrates its
own var/hotline.db and starts the service: nothing is borrowed from the running checkout.

It runs on an Asterisk instance and ports of its own (`newcomer<slot>`, 22000 + 1000 x
HOTLINE_E2E_SLOT: clear of the other e2e tests' 15000-20999 and of `make run`'s defaults), in an
environment without this checkout's venv or HOTLINE_* settings. Each output line of `make run`
is logged with the seconds since the clone began (`make-run.log`; `pytest -s` prints where the
time went) and kept as tests/artifacts/newcomer-make-run.log; a failure's message ends with its
tail. The temporary directory is removed afterwards unless HOTLINE_NEWCOMER_KEEP=1.
Uncommitted changes are not in the clone: commit first.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.slots import e2e_slot

REPO = Path(__file__).resolve().parents[2]
REF = os.environ.get("HOTLINE_NEWCOMER_REF", "HEAD")
KEEP = os.environ.get("HOTLINE_NEWCOMER_KEEP") == "1"
READY_TIMEOUT = float(os.environ.get("HOTLINE_NEWCOMER_TIMEOUT", "1200"))  # first pip install
ARTIFACT = REPO / "tests" / "artifacts" / "newcomer-make-run.log"
SLOT = e2e_slot()  # as in conftest: one range per e2e run (and xdist worker)
DEMO_CALLER = "+79162345678"  # `hotline call`'s default caller: Ivan Petrov in the demo directory


@dataclass
class Ports:
    base: int

    @property
    def sip(self) -> int:
        return self.base

    @property
    def ami(self) -> int:
        return self.base + 1

    @property
    def agi(self) -> int:
        return self.base + 2

    @property
    def audiosocket(self) -> int:
        return self.base + 3

    @property
    def http(self) -> int:
        return self.base + 4

    def taken(self) -> list[str]:
        """The ones something still holds (bound as a server would: SO_REUSEADDR)."""
        busy = [f"{p}/tcp" for p in (self.ami, self.agi, self.audiosocket, self.http)
                if not _bindable(p, socket.SOCK_STREAM)]
        busy += [f"{self.sip}/udp"] if not _bindable(self.sip, socket.SOCK_DGRAM) else []
        return busy


def _bindable(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports() -> Ports:
    """The ports of this run's e2e slot, which must be free (the clone takes a minute to bind)."""
    ports = Ports(22000 + 1000 * SLOT)
    if busy := ports.taken():
        pytest.fail(f"ports {busy} of e2e slot {SLOT} are taken: another newcomer test? "
                    f"(HOTLINE_E2E_SLOT picks another range)")
    return ports


@dataclass
class Newcomer:
    """One fresh clone with its own instance and ports; `make run`'s output goes to `log`."""

    tmp: Path
    clone: Path
    root: Path  # the clone's Asterisk root (restored from the cache by `make run`)
    instance: str
    ports: Ports
    env: dict[str, str]
    log: Path
    t0: float = field(default_factory=time.monotonic)
    proc: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def mark(self, what: str) -> None:
        self.timings[what] = time.monotonic() - self.t0

    def tail(self, lines: int = 80) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return f"--- last {lines} lines of make run ({self.log}) ---\n" + "\n".join(
            text.splitlines()[-lines:])

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["make", "run"], cwd=self.clone, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.reader = threading.Thread(target=self._copy_output, daemon=True)
        self.reader.start()

    def _copy_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.log, "a", encoding="utf-8") as out:
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                out.write(f"[{time.monotonic() - self.t0:7.1f}s] {line}\n")
                out.flush()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def leftovers(self) -> list[str]:
        """Processes that mention the clone, its Asterisk root or its instance (not this one)."""
        needles = [str(self.tmp), f"/srv/hotline/{self.instance}/"]
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                where = [cmdline]
                for link in ("cwd", "root", "exe"):
                    with contextlib.suppress(OSError):
                        where.append(os.readlink(entry / link))
            except OSError:  # gone meanwhile, or a kernel thread
                continue
            if any(n in w for n in needles for w in where):
                found.append(f"pid {entry.name}: {cmdline.strip()[:200]}")
        return found

    def cleanup(self) -> None:
        """Whatever the test got to: stop make run's group, the clone's Asterisk, stragglers."""
        if self.proc is not None and self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        asterisk = self.root / "usr/sbin/asterisk"
        if asterisk.exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run(
                    ["chroot", str(self.root), "/usr/sbin/asterisk", "-C",
                     f"/srv/hotline/{self.instance}/etc/asterisk.conf", "-rx", "core stop now"],
                    capture_output=True, timeout=10,
                )
        deadline = time.monotonic() + 10
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.5)
        for line in self.leftovers():  # started by this test (they name its directory)
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(line.split()[1].rstrip(":")), signal.SIGKILL)
        if self.reader is not None:
            self.reader.join(timeout=5)


def _clean_env(tmp: Path, instance: str, ports: Ports, root: Path) -> dict[str, str]:
    """The caller's environment without this checkout's venv or HOTLINE_* settings, plus ours."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith("HOTLINE_") and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    (tmp / "tmp").mkdir()
    env.update(
        TMPDIR=str(tmp / "tmp"),  # sipp's work dirs and pip's build dirs go with the clone
        HOTLINE_ASTERISK__INSTANCE=instance,
        HOTLINE_ASTERISK__ROOT=str(root),
        HOTLINE_ASTERISK__SIP_PORT=str(ports.sip),
        HOTLINE_ASTERISK__AMI_PORT=str(ports.ami),
        HOTLINE_ASTERISK__RTP_START=str(ports.base + 100),
        HOTLINE_ASTERISK__RTP_END=str(ports.base + 999),
        HOTLINE_SERVICE__AGI_PORT=str(ports.agi),
        HOTLINE_SERVICE__AUDIOSOCKET_PORT=str(ports.audiosocket),
        HOTLINE_SERVICE__HTTP_PORT=str(ports.http),
    )
    return env


def _git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def newcomer() -> Iterator[Newcomer]:
    commit = _git("rev-parse", "--verify", f"{REF}^{{commit}}")
    ports = _free_ports()
    instance = f"newcomer{SLOT}"
    tmp = Path(tempfile.mkdtemp(prefix="hotline-newcomer-"))
    clone, root = tmp / "hotline", tmp / "asterisk-root"
    nc = Newcomer(tmp=tmp, clone=clone, root=root, instance=instance, ports=ports,
                  env=_clean_env(tmp, instance, ports, root), log=tmp / "make-run.log")
    try:
        # a worktree's `git clone` checks out the main repository's HEAD: check out the commit
        _git("clone", "-q", "--no-checkout", str(REPO), str(clone), cwd=tmp)
        _git("checkout", "-q", "-B", "main", commit, cwd=clone)
        nc.mark("cloned")
        print(f"\nnewcomer: {REF} = {commit[:10]} cloned into {clone}; instance {instance}, "
              f"ports {ports.base}-{ports.base + 999}")
        yield nc
    finally:
        nc.cleanup()
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copyfile(nc.log, ARTIFACT)
        if not KEEP:
            shutil.rmtree(tmp, ignore_errors=True)


def _health(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _calls(db: Path, after_id: int) -> list[dict[str, object]]:
    """Calls stored in the clone's database with an id above `after_id`."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        con.row_factory = sqlite3.Row
        rows = con.execute("SELECT * FROM calls WHERE id > ? ORDER BY id", (after_id,)).fetchall()
    return [dict(r) for r in rows]


def _first(log: str, needle: str) -> float | None:
    """Seconds (the log's own stamps) of the first line containing `needle`."""
    for line in log.splitlines():
        if needle in line and line.startswith("["):
            return float(line[1:line.index("s]")])
    return None


def test_make_run_call_and_ctrl_c_in_a_fresh_clone(newcomer: Newcomer) -> None:
    nc = newcomer
    assert not (nc.clone / "var").exists() and not (nc.clone / ".venv").exists()

    # 1. make run: installs what is missing, provisions Asterisk, starts the service
    nc.start()
    assert nc.proc is not None
    health: dict[str, object] | None = None
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if nc.proc.poll() is not None:
            pytest.fail(f"make run exited with {nc.proc.returncode} before the service was "
                        f"healthy\n{nc.tail()}")
        health = _health(nc.ports.http)
        if health is not None and health.get("ami_connected") and health.get("status") == "ok":
            break
        time.sleep(1)
    else:
        pytest.fail(f"no healthy /health within {READY_TIMEOUT:.0f}s (last answer {health})\n"
                    f"{nc.tail()}")
    nc.mark("healthy")
    assert health["database_ok"] and health["dialplan_ok"], health
    assert str(health["asterisk_version"]).startswith("22"), health
    assert (nc.clone / "var" / "hotline.db").exists(), nc.tail()
    assert (nc.root / "usr/sbin/asterisk").exists(), "the clone's Asterisk root was not restored"

    # 2. make call, in a second terminal
    db_file = nc.clone / "var" / "hotline.db"
    before = _calls(db_file, 0)[-1:]  # the demo data has past calls of its own
    last_id = before[0]["id"] if before else 0
    call = subprocess.run(["make", "call"], cwd=nc.clone, env=nc.env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=240)
    nc.mark("called")
    said = call.stdout + call.stderr
    assert call.returncode == 0, f"make call exited {call.returncode}:\n{said[-3000:]}\n{nc.tail()}"
    assert "call completed" in said, f"{said[-3000:]}\n{nc.tail()}"
    after_hours = "demo walk (after hours)" in said
    assert after_hours or "demo walk: main menu 1" in said, said[-3000:]
    stored: list[dict[str, object]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the service stores the call right after the hang-up
        stored = _calls(db_file, last_id)
        if stored and all(c["ended_at"] for c in stored) and "ivr.call_stored" in nc.log_text():
            break
        time.sleep(0.5)
    assert len(stored) == 1, f"calls stored by make call: {stored}\n{nc.tail()}"
    (c,) = stored
    assert (c["caller_number"], c["caller_name"]) == (DEMO_CALLER, "Ivan Petrov"), c
    assert c["outcome"] and c["ended_at"], f"call not finished: {c}\n{nc.tail()}"
    path = json.loads(str(c["path"]))
    steps = [(p["node"], p.get("detail", "")) for p in path]
    if after_hours:  # 5: the voice assistant, which keeps what it heard with the call
        assert ("assistant", "key 5") in steps, f"the walk took {steps}\n{nc.tail()}"
        bot = json.loads(str(c["context"] or "{}")).get("bot")
        assert bot and bot["outcome"] == "hangup", f"no bot result stored: {c}\n{nc.tail()}"
    else:  # 1: a ticket check, ticket 123456
        nodes = [n for n, _ in steps]
        assert "ticket_entry" in nodes and "ticket_answer" in nodes, f"the walk took {steps}"
    failed = [s for s in steps if "fail" in s[1] or s[0].startswith("(service")]
    assert not failed, f"steps that failed: {failed}\n{nc.tail()}"
    log = nc.log_text()
    for line in ("ivr.call_started", "ivr.step", "ivr.call_stored"):
        assert line in log, f"no {line} in the service's log\n{nc.tail()}"
    assert "Traceback" not in log and "[error" not in log, f"errors in the log\n{nc.tail(200)}"

    running = nc.leftovers()  # what the check after Ctrl-C must find gone
    assert any("/usr/sbin/asterisk" in r for r in running), running
    assert any(".venv/bin/hotline run" in r for r in running), running

    # 3. Ctrl-C: SIGINT to the foreground process group, as a terminal sends it
    os.killpg(nc.proc.pid, signal.SIGINT)
    try:
        code = nc.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make run still running 60s after Ctrl-C\n{nc.tail()}")
    nc.mark("stopped")
    assert nc.reader is not None
    nc.reader.join(timeout=10)
    log = nc.log_text()
    assert "asterisk.stopped" in log and "service.stopped" in log, nc.tail()
    assert "Traceback" not in log, f"a traceback in make run's output\n{nc.tail(200)}"
    assert "] Error" not in log, nc.tail()  # make's "*** [Makefile: run] Error 1"
    left: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = nc.leftovers()
        if not left:
            break
        time.sleep(0.5)
    assert not left, "still running after Ctrl-C:\n  " + "\n  ".join(left) + "\n" + nc.tail()
    assert not nc.ports.taken(), f"ports still taken: {nc.ports.taken()}\n{nc.tail()}"

    # where the time went (pytest -s shows it)
    stamps = {k: _first(log, n) for k, n in (
        ("venv ready", "[deps]"), ("asterisk restored", "[asterisk] restored"),
        ("asterisk started", "asterisk.started"), ("service running", "Hotline is running"))}
    print(f"newcomer timings (s since clone start; make run exit {code}): clone "
          f"{nc.timings['cloned']:.1f}, " + ", ".join(
              f"{k} {v:.1f}" for k, v in stamps.items() if v is not None)
          + f", healthy {nc.timings['healthy']:.1f}, call done {nc.timings['called']:.1f},"
          f" stopped {nc.timings['stopped']:.1f}")
