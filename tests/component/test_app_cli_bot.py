"""`hotline bot chat` end to end: settings, migration and demo data, then a typed conversation."""

from __future__ import annotations

import io

import pytest

import hotline.logs
from hotline.app import cli_bot as cli

pytestmark = pytest.mark.component


def test_bot_chat_on_an_empty_database(tmp_path, monkeypatch, capsys):
    db = tmp_path / "chat.db"
    monkeypatch.setenv("HOTLINE_DATABASE__URL", f"sqlite+aiosqlite:///{db}")
    monkeypatch.setattr(hotline.logs, "setup_logging", lambda *a, **k: None)  # keep global logging
    monkeypatch.setattr("sys.stdin", io.StringIO("did ticket 234567 win\n/dtmf 0\n"))
    parser = cli.argparse.ArgumentParser()
    parser.add_argument("--config")
    cli.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bot", "chat", "--no-color"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert db.exists()  # migrated and seeded with the demo data
    assert "  ~ understood check_ticket" in out
    # seeded "now": ticket 234567 is in the latest draw, already drawn, and lost
    assert "bot> Ticket 2 3 4 5 6 7 did not win in the Six of Forty-Five draw" in out
    assert "  ~   reason: dtmf_0" in out
