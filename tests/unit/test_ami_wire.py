"""Pure AMI wire format: message framing/parsing and action encoding."""

from __future__ import annotations

import pytest

from hotline.pbx.ami.wire import Message, encode_action, parse_message

pytestmark = pytest.mark.unit


def test_parse_message_keeps_repeated_headers_and_is_case_insensitive() -> None:
    msg = parse_message(
        "Response: Success\r\nActionID: a1\r\nMessage: Command output follows\r\n"
        "Output: line 1\r\nOutput: line: 2\r\nEmpty:\r\n"
    )
    assert msg.success and msg.action_id == "a1"
    assert msg["output"] == "line 1" and msg.get_all("OUTPUT") == ["line 1", "line: 2"]
    assert msg["Empty"] == ""


def test_parse_message_strips_asterisk_trailing_newline_in_value() -> None:
    msg = parse_message("Response: Error\r\nActionID: 7\r\nMessage: No Contacts found\n")
    assert not msg.success and msg.message == "No Contacts found"


def test_encode_action_repeats_lists_and_rejects_injection() -> None:
    data = encode_action({"Action": "Originate", "Variable": ["A=1", "B=2"], "Async": True})
    assert data == b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\nAsync: true\r\n\r\n"
    for bad in ({"Action": "Ping", "X": "1\r\nAction: Hangup"}, {"Action": "Ping\n"}):
        with pytest.raises(ValueError):
            encode_action(bad)
    with pytest.raises(ValueError):
        encode_action({"Action": "Ping", "Bad Key": "1"})
    with pytest.raises(ValueError):
        encode_action({"Ping": "1"})


def test_message_repr_hides_secret() -> None:
    assert "hunter2" not in repr(Message({"Action": "Login", "Secret": "hunter2"}))
