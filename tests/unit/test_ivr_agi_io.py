"""GET DATA replies: digits kept as text (leading 0, * and #), timeouts, hang-ups."""

from __future__ import annotations

import pytest

from hotline.pbx.agi import AgiError, AgiHangup
from ivr.agi_io import Collected, parse_get_data


@pytest.mark.parametrize(("line", "expected"), [
    ("200 result=0123", Collected("0123", False)),
    ("200 result=12*4", Collected("12*4", False)),
    ("200 result=12 (timeout)", Collected("12", True)),
    ("200 result= (timeout)", Collected("", True)),
    ("200 result=", Collected("", False)),
    ("200 result=1a;2", Collected("12", False)),  # only DTMF keys survive
])
def test_get_data_reply(line: str, expected: Collected) -> None:
    assert parse_get_data(line) == expected


@pytest.mark.parametrize("line", ["200 result=-1", "511 result=-1 Command Not Permitted"])
def test_get_data_hangup(line: str) -> None:
    with pytest.raises(AgiHangup):
        parse_get_data(line)


def test_get_data_error() -> None:
    with pytest.raises(AgiError):
        parse_get_data("510 Invalid or unknown command")
