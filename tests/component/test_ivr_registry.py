"""The dialplan registry's file watch and SIGHUP reload with bad files: a bad file is
rejected with its line, the last good version keeps serving, and the next good file is
picked up (before, `a: &a [*a]` raised RecursionError out of the watch task and ended it)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

import ivr.registry
from hotline.paths import PROJECT_ROOT
from hotline.yamlsrc import DEFAULT_LIMITS
from ivr.registry import DialplanRegistry

DEMO = (PROJECT_ROOT / "dialplan" / "hotline.yaml").read_text()
NAME_LINE = DEMO.splitlines().index("name: lottery-hotline") + 1


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[DialplanRegistry]:
    file = tmp_path / "hotline.yaml"
    file.write_text(DEMO)
    registry = DialplanRegistry(file, poll_interval=0.05)
    await registry.start()
    try:
        yield registry
    finally:
        await registry.stop()


def _write(path: Path, text: str) -> None:
    """Replace the file at once, as editors do (the watcher never sees half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def _no_nudge() -> None:
    pass


def _version(n: int) -> str:
    return DEMO.replace("version: 1\n", f"version: {n}\n")


async def _bad_then_good(
    registry: DialplanRegistry, bad: str, first_problem: str,
    nudge: Callable[[], Awaitable[None]] = _no_nudge,
) -> None:
    assert registry.path is not None
    v1 = registry.active.version_id
    _write(registry.path, bad)
    await nudge()
    await _until(lambda: registry.last_error is not None)
    assert registry.active.version_id == v1
    health = registry.health()
    assert not health["dialplan_ok"] and health["dialplan_active"] == v1
    assert health["dialplan_error"]["problems"][0] == first_problem
    assert registry._watch_task is not None and not registry._watch_task.done()

    _write(registry.path, _version(7))
    await nudge()
    await _until(lambda: registry.active.version_id != v1)
    assert registry.active.version_id.startswith("lottery-hotline@7#")
    assert registry.health()["dialplan_ok"]


@pytest.mark.parametrize("bad, problem", [
    (DEMO.replace("name: lottery-hotline", "name: &n [*n]"),
     f"{{file}}:{NAME_LINE}:7: anchors are not allowed here (&n): write the value out"),
    ("a: [" * 3000 + "]" * 3000,
     # every "a: [" is two levels: the one-pair mapping (its level is the limit + 1) and the list
     f"{{file}}:1:{2 * (DEFAULT_LIMITS.max_depth + 1) - 1}: nested too deeply: more than "
     f"{DEFAULT_LIMITS.max_depth} levels"),
    (DEMO + "\x00", f"{{file}}:{DEMO.count(chr(10)) + 1}:1: YAML error: special characters "
     "are not allowed #x0000"),
], ids=["recursive-alias", "deep-nesting", "nul"])
async def test_the_watcher_survives_a_bad_file_and_picks_up_the_next_good_one(
    watched: DialplanRegistry, bad: str, problem: str
) -> None:
    await _bad_then_good(watched, bad, problem.format(file=watched.path))


async def test_a_file_over_the_size_limit_is_not_read_and_the_watch_goes_on(
    watched: DialplanRegistry,
) -> None:
    big = DEMO + "#" * DEFAULT_LIMITS.max_bytes + "\n"
    await _bad_then_good(
        watched, big, f"{watched.path}:1:1: file too large: more than "
        f"{DEFAULT_LIMITS.max_bytes} bytes")


async def test_sighup_with_a_recursive_alias_then_a_good_file(
    tmp_path: Path,
) -> None:
    file = tmp_path / "hotline.yaml"
    file.write_text(DEMO)
    registry = DialplanRegistry(file, poll_interval=3600)  # only SIGHUP reloads
    await registry.start()
    loop = asyncio.get_running_loop()
    registry.install_sighup(loop)
    try:
        async def hup() -> None:
            os.kill(os.getpid(), signal.SIGHUP)

        await _bad_then_good(
            registry, DEMO.replace("name: lottery-hotline", "name: &n [*n]"),
            f"{file}:{NAME_LINE}:7: anchors are not allowed here (&n): write the value out",
            hup)
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        await registry.stop()


async def test_an_unexpected_error_in_the_check_does_not_end_the_watch(
    watched: DialplanRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Belt and braces: should the checker itself fail, the file is reported as not
    checked and the watcher goes on."""
    real = ivr.registry.parse_dialplan

    def broken_once(text: str, *args: object) -> object:
        monkeypatch.setattr(ivr.registry, "parse_dialplan", real)
        raise RuntimeError("checker bug")

    monkeypatch.setattr(ivr.registry, "parse_dialplan", broken_once)
    await _bad_then_good(
        watched, _version(3),
        f"{watched.path}:1:1: could not check the file: RuntimeError: checker bug")


async def test_the_check_runs_outside_the_event_loop(
    watched: DialplanRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file the limits let through but that costs most of a second (the node limit's
    worth of list items): the loop keeps ticking while the watcher checks it."""
    assert watched.path is not None
    padding = "padding: [" + ",".join("x" for _ in range(DEFAULT_LIMITS.max_nodes - 1500)) + "]\n"
    ticks = 0
    checking = asyncio.Event()
    real = ivr.registry.parse_dialplan

    def parse(text: str, *args: object) -> object:
        loop.call_soon_threadsafe(checking.set)
        return real(text, *args)

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(ivr.registry, "parse_dialplan", parse)
    _write(watched.path, DEMO + padding)
    await asyncio.wait_for(checking.wait(), 5)
    while watched.last_error is None:
        ticks += 1
        await asyncio.sleep(0.01)
    assert ticks >= 5  # on the loop, the check would have allowed none
    assert "unknown key 'padding'" in watched.health()["dialplan_error"]["problems"][0]
