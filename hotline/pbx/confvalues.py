"""What a directory value must look like to be written into Asterisk's configuration.

The operator directory is rendered into pjsip.conf and queues.conf (asterisk/templates):

    ; Anna Petrova                                  a comment line
    [1001](hotline-endpoint)                        a section named by the extension
    callerid = "Anna Petrova" <1001>                parsed by Asterisk's caller ID splitter
    username = 1001 / password = demo-pass-1001     auth values
    member => PJSIP/1001,0,Anna Petrova,PJSIP/1001  application-style arguments

Asterisk's config parser ends a value at a line break and starts a comment at `;`, takes
`[` at a line start as a new section, and trims whitespace around values.  The queue
member line is split at `,` but not inside `(...)` or `"..."`, with `\\` escaping, and
app_queue keeps a member name in an 80-byte buffer (longer names are cut, possibly in the
middle of a UTF-8 character).  The caller ID splitter looks for `"` and `<...>`.

Rather than list every character that is special somewhere, the rules allow what a name
needs and nothing else:

- names: letters of any script, combining marks, decimal digits, the space and `. ' -`;
  starting with a letter or digit, no whitespace at either end; an operator name at most
  79 bytes in UTF-8 (the queue member name buffer);
- extensions: 2-10 ASCII digits (a section name, SIP user name and `PJSIP/<ext>`);
- SIP passwords: 12-128 of `A-Z a-z 0-9 _ . ~ + -`.

These are the ground half of the directory's rules (`directory.validation` adds the
rest and the pydantic types): the config writer lives in the ground and may not import
`directory`, so both use these functions and refuse exactly the same values.  Each
function returns the value unchanged or raises ValueError with a message that never
repeats a password.
"""

from __future__ import annotations

import re
import unicodedata

NAME_PUNCTUATION = frozenset(" .'-")
OPERATOR_NAME_MAX_BYTES = 79  # app_queue: struct member { char membername[80]; }
EXTENSION_MIN, EXTENSION_MAX = 2, 10
SIP_PASSWORD_MIN, SIP_PASSWORD_MAX = 12, 128
SIP_PASSWORD_CHARS = "A-Z a-z 0-9 _ . ~ + -"

_EXTENSION = re.compile(rf"[0-9]{{{EXTENSION_MIN},{EXTENSION_MAX}}}")
_SIP_PASSWORD = re.compile(r"[A-Za-z0-9_.~+-]+")
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def _describe(ch: str) -> str:
    """A character as a message can show it (never the raw control character)."""
    if ch in _LINE_BREAKS:
        return "a line break"
    category = unicodedata.category(ch)
    if category == "Cc":
        return f"a control character (U+{ord(ch):04X})"
    if category[0] in "CZ" or ch.isspace():
        name = unicodedata.name(ch, "")
        return f"U+{ord(ch):04X}" + (f" ({name.lower()})" if name else "")
    return repr(ch)


def _name_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] in "LM" or category == "Nd" or ch in NAME_PUNCTUATION


def check_text(value: object, what: str) -> str:
    """What every directory value obeys: a non-empty string without control characters
    or line breaks and without whitespace at either end."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    if not value:
        raise ValueError(f"{what} must not be empty")
    for ch in value:
        if ch in _LINE_BREAKS or unicodedata.category(ch) == "Cc":
            raise ValueError(f"{what} may not contain {_describe(ch)}")
    if value != value.strip():
        raise ValueError(f"{what} must not start or end with whitespace")
    return value


def check_name(
    value: object, what: str = "name", *, max_chars: int, max_bytes: int | None = None
) -> str:
    """A person's or team's name: letters, marks, digits, space and `. ' -`."""
    value = check_text(value, what)
    for ch in value:
        if not _name_char(ch):
            raise ValueError(
                f"{what} may not contain {_describe(ch)}: only letters, digits, spaces "
                "and . ' - are allowed"
            )
    first = unicodedata.category(value[0])
    if first[0] != "L" and first != "Nd":
        raise ValueError(f"{what} must start with a letter or a digit")
    if len(value) > max_chars:
        raise ValueError(f"{what} is {len(value)} characters long; at most {max_chars} are allowed")
    if max_bytes is not None and len(value.encode("utf-8")) > max_bytes:
        raise ValueError(
            f"{what} is {len(value.encode('utf-8'))} bytes long in UTF-8; Asterisk keeps at most "
            f"{max_bytes} (e.g. {max_bytes} Latin or {max_bytes // 2} Cyrillic letters)"
        )
    return value


def check_operator_name(value: object, what: str = "operator name") -> str:
    """An operator's name: a comment, a caller ID name and a queue member name in Asterisk."""
    return check_name(value, what, max_chars=OPERATOR_NAME_MAX_BYTES, max_bytes=OPERATOR_NAME_MAX_BYTES)


def check_extension(value: object, what: str = "extension") -> str:
    value = check_text(value, what)
    if not _EXTENSION.fullmatch(value):
        raise ValueError(f"{what} must be {EXTENSION_MIN} to {EXTENSION_MAX} digits 0-9")
    return value


def check_sip_password(value: object, what: str = "SIP password") -> str:
    """A SIP digest password (the messages never show it)."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    if not _SIP_PASSWORD.fullmatch(value):
        if not value:
            raise ValueError(f"{what} must not be empty")
        raise ValueError(f"{what} may only contain {SIP_PASSWORD_CHARS}")
    if not SIP_PASSWORD_MIN <= len(value) <= SIP_PASSWORD_MAX:
        raise ValueError(
            f"{what} must be {SIP_PASSWORD_MIN} to {SIP_PASSWORD_MAX} characters long "
            f"(it has {len(value)})"
        )
    return value
