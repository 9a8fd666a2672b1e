"""Caller ID normalisation to E.164.

Caller IDs arrive from trunks and softphones in every shape: national with a trunk
prefix ("8 916 123-45-67"), international without "+" ("79161234567"), with the
"00" or "810" international prefix, or as a SIP/TEL URI.  Directory lookups need one
form, so everything goes through `normalize_number`; anything that is not clearly a
phone number (hidden, "anonymous", letters, junk) becomes None (an unknown caller),
never an exception.

Length and country checks use Google's libphonenumber metadata (`phonenumbers`,
offline).  By default a number only has to be *possible* (right length for its
country), not *valid* (in an allocated range): metadata goes stale, and a number that
is possible but unallocated simply matches nobody in the directory.  Normalise
directory numbers with the same function so both sides agree.
"""

from __future__ import annotations

import re

import phonenumbers

# Digits plus the visual separators people and PBXes put in numbers (never newlines:
# a caller ID with a line break is an injection attempt, not a number).
_SEPARATORS = re.compile(r"[ \t\-.()/]+")
_DIGITS = re.compile(r"\+?[0-9]+")
_URI_SCHEME = re.compile(r"^(?:sips?|tel):", re.IGNORECASE)
# E.164 allows at most 15 digits; anything much longer is junk, not a number.
_MAX_RAW_DIGITS = 20
_MIN_RAW_DIGITS = 5


def _user_part(raw: str) -> str:
    """The number part of a caller ID that may be a SIP/TEL URI or name-addr.

    Accepts `"Name" <sip:+7916...@host;user=phone>`, `sip:8916...@host:5060`,
    `tel:+7-916-...;phone-context=...` and plain numbers.
    """
    value = raw.strip()
    if "<" in value:
        start = value.find("<")
        end = value.find(">", start)
        if end < 0:
            return ""
        value = value[start + 1 : end].strip()
    had_scheme = bool(_URI_SCHEME.match(value))
    value = _URI_SCHEME.sub("", value)
    if had_scheme or "@" in value:
        value = value.split("@", 1)[0]
        # URI parameters (";user=phone", ";phone-context=...") and headers ("?...").
        value = re.split(r"[;?]", value, maxsplit=1)[0]
    return value.strip()


def normalize_number(
    raw: str | None, default_region: str = "RU", *, strict: bool = False
) -> str | None:
    """Return the caller ID as E.164 ("+79161234567"), or None if it is not a number.

    `default_region` is the ISO 3166 country code used for numbers written without a
    country code ("RU": "8 916 ..." and "916 ..." are Russian numbers).  With
    `strict=True` the number must also be in an allocated range for its country.
    """
    if not raw or not isinstance(raw, str):
        return None
    user = _user_part(raw)
    compact = _SEPARATORS.sub("", user)
    if not _DIGITS.fullmatch(compact):
        return None  # "anonymous", "Restricted", letters, "*", "#", extensions...
    digits = compact.lstrip("+")
    if not _MIN_RAW_DIGITS <= len(digits) <= _MAX_RAW_DIGITS:
        return None
    if not compact.startswith("+") and digits.startswith("00"):
        # "00" is the international prefix in most of the world; libphonenumber only
        # knows the default region's own prefix (e.g. "810" for Russia).
        compact = "+" + digits[2:]
    try:
        number = phonenumbers.parse(compact, default_region.upper())
    except phonenumbers.NumberParseException:
        return None
    ok = phonenumbers.is_valid_number(number) if strict else phonenumbers.is_possible_number(number)
    if not ok:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
