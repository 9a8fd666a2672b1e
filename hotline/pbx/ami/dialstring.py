"""Checks for values that end up in dial strings, channel names and the dialplan (pure).

`originate`/`redirect` pass every caller-supplied value through these, so a channel, extension,
context, caller ID or channel variable never reaches Asterisk unchecked. Standalone: no other
AMI module is needed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "format_caller_id",
    "format_variables",
    "validate_application",
    "validate_application_data",
    "validate_channel",
    "validate_context",
    "validate_exten",
]

_CTRL_RE = re.compile(r"[\x00-\x1f\x7f]")
_CHANNEL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}/[A-Za-z0-9_.@+:/-]{1,200}(;[12])?\Z")
_EXTEN_RE = re.compile(r"^[A-Za-z0-9*#+_.-]{1,80}\Z")
_CONTEXT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,80}\Z")
_VARNAME_RE = re.compile(r"^_{0,2}[A-Za-z][A-Za-z0-9_]{0,63}\Z")
_CID_NUM_RE = re.compile(r"^\+?[0-9*#]{0,32}\Z")
_CID_NAME_BAD = re.compile(r'[\x00-\x1f\x7f"<>\\;,|$\[\]{}]')
_VALUE_BAD = re.compile(r"[\x00-\x1f\x7f,|$\[\]{}\\]")


def validate_channel(value: str) -> str:
    """A channel or dial string like `PJSIP/1001`, `PJSIP/1001-0000000a`, `Local/1001@ctx;1`."""
    if not isinstance(value, str) or not _CHANNEL_RE.match(value):
        raise ValueError(f"unsafe or invalid channel name {value!r}")
    return value


def validate_exten(value: str) -> str:
    if not isinstance(value, str) or not _EXTEN_RE.match(value):
        raise ValueError(f"unsafe or invalid extension {value!r}")
    return value


def validate_context(value: str) -> str:
    if not isinstance(value, str) or not _CONTEXT_RE.match(value):
        raise ValueError(f"unsafe or invalid context {value!r}")
    return value


def format_caller_id(name: str | None, number: str | None) -> str:
    """`"Name" <number>` with the name restricted to printable text without quoting chars."""
    name, number = name or "", number or ""
    if _CTRL_RE.search(name) or _CTRL_RE.search(number):
        raise ValueError("control character in caller id")
    name, number = name.strip(), number.strip()
    if len(name) > 80 or _CID_NAME_BAD.search(name):
        raise ValueError(f"unsafe caller id name {name!r}")
    if not _CID_NUM_RE.match(number):
        raise ValueError(f"unsafe caller id number {number!r}")
    if name and number:
        return f'"{name}" <{number}>'
    if name:
        return f'"{name}"'
    return number


def format_variables(variables: Mapping[str, str | int]) -> list[str]:
    out = []
    for k, v in variables.items():
        text = str(v)
        if not _VARNAME_RE.match(k):
            raise ValueError(f"unsafe channel variable name {k!r}")
        if len(text) > 256 or _VALUE_BAD.search(text):
            raise ValueError(f"unsafe value for channel variable {k}")
        out.append(f"{k}={text}")
    return out


_APPLICATION_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}\Z")


def validate_application(value: str) -> str:
    """A dialplan application name such as `Wait` or `Playback`."""
    if not isinstance(value, str) or not _APPLICATION_RE.match(value):
        raise ValueError(f"invalid application {value!r}")
    return value


def validate_application_data(value: str) -> str:
    """An application's argument string: printable, at most 256 characters."""
    if _CTRL_RE.search(value) or len(value) > 256:
        raise ValueError("unsafe application data")
    return value
