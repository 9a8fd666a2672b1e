"""Suite-wide fixtures: markers by folder, and no asyncio task may outlive its test."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

_FOLDER_MARK = {"unit": "unit", "component": "component", "e2e": "e2e", "browser": "e2e", "bench": "bench"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        mark = _FOLDER_MARK.get(folder)
        if mark and not any(m.name == mark for m in item.iter_markers()):
            item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture(autouse=True)
async def no_leaked_tasks(request: pytest.FixtureRequest):
    """Fail a test that leaves an asyncio task running (livekit-agents style)."""
    before = set(asyncio.all_tasks())
    yield
    current = asyncio.current_task()
    for _ in range(20):  # let cancelled tasks finish unwinding
        leaked = {t for t in asyncio.all_tasks() - before if t is not current and not t.done()}
        if not leaked:
            return
        await asyncio.sleep(0.05)
    for t in leaked:
        t.cancel()
    names = sorted(t.get_name() + ": " + repr(t.get_coro())[:120] for t in leaked)
    pytest.fail("test left asyncio tasks running:\n  " + "\n  ".join(names))
