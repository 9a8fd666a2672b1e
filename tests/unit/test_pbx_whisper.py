"""Only prompts the service made and plain channel names go into the CLI command."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.pbx.whisper import Whisperer

W = Whisperer(Path("/nonexistent.ctl"), "/srv/hotline/t/sounds/prompts")
HEX = "0123456789abcdef0123456789abcdef"


def test_command_whispers_the_prompt_by_name():
    assert W.command_for("PJSIP/test-caller-0000000a", f"/srv/hotline/t/sounds/prompts/{HEX}") == (
        f"channel originate Local/{HEX}@hotline-announce/n application ChanSpy "
        "PJSIP/test-caller-0000000a,qwEs")


@pytest.mark.parametrize(("channel", "sound"), [
    ("PJSIP/a-1", "/etc/passwd"),
    ("PJSIP/a-1", f"/srv/hotline/t/sounds/{HEX}"),
    ("PJSIP/a-1", "/srv/hotline/t/sounds/prompts/../../x"),
    ("PJSIP/a-1", f"/srv/hotline/t/sounds/prompts/{HEX.upper()}"),
    ("PJSIP/a-1,b", f"/srv/hotline/t/sounds/prompts/{HEX}"),
    ("PJSIP/a 1 application System", f"/srv/hotline/t/sounds/prompts/{HEX}"),
])
def test_anything_else_is_refused(channel: str, sound: str):
    assert W.command_for(channel, sound) is None


async def test_say_refuses_before_reaching_asterisk():
    with pytest.raises(ValueError):
        await W.say("PJSIP/a-1", "/etc/passwd")


def test_a_listener_spies_on_what_the_caller_says_only():
    w = Whisperer(Path("/nonexistent.ctl"), "/inst/sounds/prompts")
    listener = "0b5e7c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b"
    assert w.spy_command("PJSIP/test-caller-0000000a", listener) == (
        f"channel originate Local/{listener}@hotline-listen/n application ChanSpy "
        "PJSIP/test-caller-0000000a,qoES")
    assert w.spy_command("PJSIP/x,y", listener) is None
    assert w.spy_command("PJSIP/test-caller-0000000a", "../../etc") is None


async def test_stopping_a_whisper_leaves_the_listener_on(monkeypatch):
    w = Whisperer(Path("/nonexistent.ctl"), "/inst/sounds/prompts")
    sent: list[str] = []
    listing = ("Local/abc@hotline-announce-0001;2!hotline-announce!abc!1!Up!ChanSpy!"
               "PJSIP/c-1,qwEs!!!!3!0!!x\n"
               "Local/0b5e@hotline-listen-0002;2!hotline-listen!0b5e!1!Up!ChanSpy!"
               "PJSIP/c-1,qoES!!!!3!0!!y\n")

    async def run(command: str) -> str:
        sent.append(command)
        return listing if command == "core show channels concise" else ""

    monkeypatch.setattr(w, "_run", run)
    await w.stop("PJSIP/c-1")
    assert sent == ["core show channels concise",
                    "channel request hangup Local/abc@hotline-announce-0001;2"]
