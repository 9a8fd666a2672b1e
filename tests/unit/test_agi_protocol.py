"""FastAGI reply parsing and argument quoting (caller data never breaks a command line)."""

from __future__ import annotations

import pytest

from hotline.pbx.agi import digits_only, parse_response, quote


@pytest.mark.parametrize(
    ("line", "code", "result", "text", "data"),
    [
        ("200 result=0", 200, 0, "0", None),
        ("200 result=49 endpos=1234", 200, 49, "49", None),
        ("200 result=-1", 200, -1, "-1", None),
        ("200 result=0123456 (timeout)", 200, 123456, "0123456", "timeout"),
        ("200 result=12*3", 200, 0, "12*3", None),
        ("200 result=1 (some value)", 200, 1, "1", "some value"),
        ("510 Invalid or unknown command", 510, 0, "", None),
    ],
)
def test_parse_response(line: str, code: int, result: int, text: str, data: str | None) -> None:
    r = parse_response(line)
    assert (r.code, r.result, r.result_text, r.data) == (code, result, text, data)


def test_digit_of_stream_file() -> None:
    assert parse_response("200 result=53 endpos=800").digit == "5"
    assert parse_response("200 result=0 endpos=800").digit is None


@pytest.mark.parametrize("bad", ["x\nHANGUP", "a\rb", "nul\x00", "esc\x1b"])
def test_quote_refuses_control_characters(bad: str) -> None:
    with pytest.raises(ValueError):
        quote(bad)


def test_quote_escapes_quotes_and_backslashes() -> None:
    assert quote('Ivanova "VIP" \\ test') == '"Ivanova \\"VIP\\" \\\\ test"'


@pytest.mark.parametrize("bad", ["", "12a", "1 2", "0;", "#\n"])
def test_digits_only(bad: str) -> None:
    with pytest.raises(ValueError):
        digits_only(bad)
    assert digits_only("0123*#") == "0123*#"
