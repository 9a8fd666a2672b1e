"""The layering contracts in pyproject.toml ([tool.importlinter]) hold, and they bite.

`make lint` runs the same check; here it is part of `make test`, so a wrong import fails CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hotline", "backoffice", "ivr", "callrouting", "recordings", "voicebot", "directory",
            "lottery")
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())", "--no-cache"]


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    # cwd first on sys.path: the tree under test is what gets analysed
    return subprocess.run(LINT, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_the_layering_contracts_are_kept() -> None:
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Contracts: 4 kept, 0 broken." in r.stdout


def _copy_tree(dst: Path) -> None:
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dst / "pyproject.toml")


@pytest.mark.parametrize(("module", "line", "contract", "expected"), [
    # the ground importing a feature (inside a function: still counted)
    ("hotline/db/calls.py", "def _x() -> None:\n    import backoffice.auth  # noqa\n",
     "Imports point down", "hotline.db.calls -> backoffice.auth"),
    # a pure core doing I/O
    ("ivr/machine.py", "import sqlalchemy  # noqa\n", "Pure cores",
     "ivr.machine -> sqlalchemy"),
    # a feature reaching into another feature's machine
    ("ivr/session.py", "from callrouting.policy import plan_call  # noqa\n", "port types",
     "ivr.session -> callrouting.policy"),
    # a cycle inside a package (under TYPE_CHECKING: still counted)
    ("voicebot/asr.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
     "    import voicebot.asr_engines  # noqa\n", "No import cycles", "voicebot"),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, line: str,
                                              contract: str, expected: str) -> None:
    _copy_tree(tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text() + "\n\n" + line)
    r = _lint(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    broken = r.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, r.stdout
    assert expected in broken, r.stdout
