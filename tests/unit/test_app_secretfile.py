"""Demo secrets under var/: made once, whole, 0600, and one secret however many start at once."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from hotline.app.secretfile import EmptySecretFile, read_or_create


def test_created_0600_even_with_an_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        value = read_or_create(tmp_path / "var" / "agi-secret")
    finally:
        os.umask(old)
    path = tmp_path / "var" / "agi-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(value) >= 24 and path.read_text() == value
    assert read_or_create(path) == value  # stable
    assert sorted(p.name for p in path.parent.iterdir()) == ["agi-secret"]  # no temporary left


def test_processes_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "agi-secret"
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(read_or_create(path))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1 and results[0] == path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agi-secret"]


def test_an_empty_file_is_one_clear_error_not_an_empty_secret(tmp_path: Path) -> None:
    path = tmp_path / "agi-secret"
    path.write_text("\n")
    with pytest.raises(EmptySecretFile, match=f"{path} is empty: delete it"):
        read_or_create(path)
    path.unlink()
    assert read_or_create(path)
