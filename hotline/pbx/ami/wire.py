"""AMI wire format: `Key: value` lines, a blank line ends a message (pure, no I/O).

`Message` is one parsed response or event; `parse_message` turns one block (without its
terminating blank line) into a `Message`; `encode_action` turns an action into bytes and refuses
anything that could inject a header (CR/LF or other control characters, odd header names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["BANNER_PREFIX", "EOL", "Message", "encode_action", "parse_message"]

EOL = "\r\n"
BANNER_PREFIX = "Asterisk Call Manager/"
_CTRL_RE = re.compile(r"[\x00-\x1f\x7f]")


class Message(Mapping[str, str]):
    """One AMI message (response or event): ordered `Key: value` fields, case-insensitive keys.

    Repeated keys (`Output`, `ChanVariable`, `Variable`) are kept: `msg["Output"]` is the first,
    `msg.get_all("Output")` all of them.
    """

    __slots__ = ("_fields", "_index")

    def __init__(self, fields: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        items = fields.items() if isinstance(fields, Mapping) else fields
        self._fields: tuple[tuple[str, str], ...] = tuple((str(k), str(v)) for k, v in items)
        index: dict[str, str] = {}
        for k, v in self._fields:
            index.setdefault(k.lower(), v)
        self._index = index

    def __getitem__(self, key: str) -> str:
        return self._index[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for k, _ in self._fields:
            if k.lower() not in seen:
                seen.add(k.lower())
                yield k

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        shown = " ".join(f"{k}={'***' if k.lower() == 'secret' else v!r}" for k, v in self._fields)
        return f"<Message {shown}>"

    def get_all(self, key: str) -> list[str]:
        lk = key.lower()
        return [v for k, v in self._fields if k.lower() == lk]

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        return self._fields

    @property
    def event(self) -> str | None:
        return self._index.get("event")

    @property
    def response(self) -> str | None:
        return self._index.get("response")

    @property
    def action_id(self) -> str | None:
        return self._index.get("actionid")

    @property
    def message(self) -> str:
        return self._index.get("message", "")

    @property
    def success(self) -> bool:
        return (self.response or "").lower() in ("success", "follows", "goodbye")


_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")


def encode_action(fields: Mapping[str, Any]) -> bytes:
    """Encode an action. Values may be str/int/float/bool or a list (repeated header).

    Raises ValueError on a bad key or a value with CR/LF/control characters: that is how a
    header would be injected, so it is never sent.
    """
    if not any(k.lower() == "action" for k in fields):
        raise ValueError("AMI action needs an 'Action' field")
    lines: list[str] = []
    for key, value in fields.items():
        if not _KEY_RE.match(key):
            raise ValueError(f"invalid AMI header name {key!r}")
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, bool):
                text = "true" if v else "false"
            else:
                text = str(v)
            if _CTRL_RE.search(text):
                raise ValueError(f"control character (CR/LF?) in AMI field {key}")
            lines.append(f"{key}: {text}")
    return (EOL.join(lines) + EOL + EOL).encode("utf-8")


def parse_message(block: str) -> Message:
    """Parse one message block (without the terminating blank line)."""
    fields: list[tuple[str, str]] = []
    for line in block.split(EOL):
        line = line.strip("\r\n")
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            fields.append(("__body__", line))
            continue
        fields.append((key.strip(), value.strip()))
    return Message(fields)
