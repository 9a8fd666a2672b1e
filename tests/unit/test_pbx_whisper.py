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
