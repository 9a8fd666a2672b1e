"""Checks for values that reach dial strings, channel names and the dialplan."""

from __future__ import annotations

import pytest

from hotline.pbx.ami.dialstring import format_caller_id, validate_channel, validate_exten

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "good", ["PJSIP/1001", "PJSIP/1001-0000000a", "Local/1001@hotline-ops;1", "PJSIP/op_7"]
)
def test_validate_channel_accepts(good) -> None:
    assert validate_channel(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1001",
        "PJSIP/1001\r\nAction: Hangup",
        "PJSIP/1001&PJSIP/1002",
        "PJSIP/${EVIL}",
        "PJSIP/1001,10",
        "PJSIP/1 001",
        "Local/1@x;3",
    ],
)
def test_validate_channel_rejects(bad) -> None:
    with pytest.raises(ValueError):
        validate_channel(bad)


@pytest.mark.parametrize("bad", ["", "1 2", "1\n", "${X}", "a,b", "x" * 81])
def test_validate_exten_rejects(bad) -> None:
    with pytest.raises(ValueError):
        validate_exten(bad)


def test_format_caller_id() -> None:
    assert (
        format_caller_id("VIP Иванова - ticket check", "+7495")
        == '"VIP Иванова - ticket check" <+7495>'
    )
    assert format_caller_id(None, "100") == "100"
    for name, num in (('a"b', "1"), ("a<b>", "1"), ("x\n", "1"), ("ok", "12a")):
        with pytest.raises(ValueError):
            format_caller_id(name, num)
