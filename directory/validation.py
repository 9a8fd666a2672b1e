"""The directory's rules: what a team, an operator and a known caller may hold.

One set of rules for every way into the directory: the YAML file (directory.file) and the
admin HTTP API.  They come from where the values end up (see hotline.pbx.confvalues for
the Asterisk side): operator names and extensions are written into pjsip.conf and
queues.conf, SIP passwords into pjsip.conf, caller names into the caller ID shown on the
operator's phone, numbers are matched against caller IDs normalised by hotline.phone.

    value           rule
    --------------  ----------------------------------------------------------------------
    any text        a string, not empty, no control characters or line breaks, no
                    whitespace at either end
    operator name   letters (any script), combining marks, decimal digits, the space and
                    . ' - ; starts with a letter or digit; at most 79 bytes in UTF-8
                    (app_queue keeps 79 bytes of a member name and cuts the rest, even
                    in the middle of a letter)
    team name       the same characters, at most 100 characters (teams.name)
    caller name     the same characters, at most 200 characters (callers.name)
    extension       2 to 10 ASCII digits
    SIP password    12 to 128 of A-Z a-z 0-9 _ . ~ + -
    caller number   E.164 exactly as hotline.phone.normalize_number writes it ("+79161234567":
                    "+", country code, no separators) and a possible number for its country
    role            "manager" or "team_lead"
    language        "xx" or "xx-YY" (ISO 639-1 language, optional ISO 3166 region)

So "Eve,PJSIP/1001", "Anna ", "Anna\\n", ";" and "[x]" are refused everywhere;
"Анна Петрова", "Zoë O'Brien-Smith" and "李小龙" are names.

Two ways to use them:

- plain functions `check_*(value)`, returning the value unchanged or raising ValueError
  with a message that says what is wrong (never repeating a password);
- pydantic `Annotated` types that run the same functions, for any pydantic model:
  `OperatorName`, `TeamName`, `CallerName`, `Extension`, `SipPassword`, `CallerNumber`,
  `OperatorRole`, `Language`.  A broken rule is a pydantic error of type
  "directory_rule" whose `msg` is the function's message; the JSON schema carries the
  length limits, patterns and a description.

A model adopts them by changing field annotations only, e.g. the admin API's schemas:

    from directory.validation import CallerName, CallerNumber, Extension, Language, ...

    class OperatorIn(BaseModel):
        name: OperatorName                        # was str = Field(min_length=1, ...)
        extension: Extension                      # was str = Field(pattern=...)
        sip_password: SipPassword
        role: OperatorRole = "manager"

    class OperatorPatch(BaseModel):
        name: OperatorName | None = None          # optional fields keep `| None = None`
        sip_password: SipPassword | None = None
        role: OperatorRole | None = None

and likewise `TeamName` for teams and `CallerNumber`, `CallerName`, `Language` for known
callers.  An explicit `None` still passes `X | None` (a PATCH that clears a field).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from hotline.pbx.confvalues import (
    EXTENSION_MAX,
    EXTENSION_MIN,
    OPERATOR_NAME_MAX_BYTES,
    SIP_PASSWORD_CHARS,
    SIP_PASSWORD_MAX,
    SIP_PASSWORD_MIN,
    check_extension,
    check_name,
    check_operator_name,
    check_sip_password,
    check_text,
)
from hotline.phone import normalize_number

__all__ = [
    "CallerName", "CallerNumber", "Extension", "Language", "OperatorName", "OperatorRole",
    "SipPassword", "TeamName", "check_caller_name", "check_caller_number", "check_extension",
    "check_language", "check_operator_name", "check_role", "check_sip_password",
    "check_team_name", "ROLES",
]

TEAM_NAME_MAX = 100  # directory.tables.TeamRow.name
CALLER_NAME_MAX = 200  # directory.tables.CallerRow.name
E164_MAX = 16  # "+" and at most 15 digits
ROLES = ("manager", "team_lead")
_LANGUAGE = re.compile(r"[a-z]{2}(-[A-Z]{2})?")


def check_team_name(value: object, what: str = "team name") -> str:
    return check_name(value, what, max_chars=TEAM_NAME_MAX)


def check_caller_name(value: object, what: str = "caller name") -> str:
    return check_name(value, what, max_chars=CALLER_NAME_MAX)


def check_caller_number(value: object, what: str = "caller number") -> str:
    """E.164 as the caller ID lookups see it: what `normalize_number` gives back unchanged."""
    value = check_text(value, what)
    e164 = normalize_number(value) if value.startswith("+") else None
    if e164 is None:
        if value.startswith("+"):
            raise ValueError(f"{what} is not a possible phone number for its country code")
        raise ValueError(f"{what} must be in E.164 form: + and the country code, e.g. +79161234567")
    if e164 != value:
        raise ValueError(f"{what} must be in E.164 form without separators: {e164}")
    return value


def check_role(value: object, what: str = "role") -> str:
    if value not in ROLES:
        raise ValueError(f"{what} must be one of {', '.join(ROLES)}")
    assert isinstance(value, str)
    return value


def check_language(value: object, what: str = "language") -> str:
    value = check_text(value, what)
    if not _LANGUAGE.fullmatch(value):
        raise ValueError(f"{what} must be a language code like 'ru' or 'en-GB'")
    return value


# --- pydantic types ------------------------------------------------------------------------


def _rule(check: Callable[[Any], str]) -> AfterValidator:
    def validate(value: str) -> str:
        try:
            return check(value)
        except ValueError as exc:
            raise PydanticCustomError("directory_rule", "{reason}", {"reason": str(exc)}) from None

    return AfterValidator(validate)


def _schema(description: str, **schema: Any) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "minLength": 1, **schema, "description": description})


_NAME_CHARS = "letters, digits, spaces and . ' -, starting with a letter or digit"

OperatorName = Annotated[
    str, _rule(check_operator_name),
    _schema(f"{_NAME_CHARS}; at most {OPERATOR_NAME_MAX_BYTES} bytes in UTF-8",
            maxLength=OPERATOR_NAME_MAX_BYTES),
]
TeamName = Annotated[str, _rule(check_team_name), _schema(_NAME_CHARS, maxLength=TEAM_NAME_MAX)]
CallerName = Annotated[str, _rule(check_caller_name), _schema(_NAME_CHARS, maxLength=CALLER_NAME_MAX)]
Extension = Annotated[
    str, _rule(check_extension),
    _schema(f"{EXTENSION_MIN} to {EXTENSION_MAX} digits", minLength=EXTENSION_MIN,
            maxLength=EXTENSION_MAX, pattern=f"^[0-9]{{{EXTENSION_MIN},{EXTENSION_MAX}}}$"),
]
SipPassword = Annotated[
    str, _rule(check_sip_password),
    _schema(f"{SIP_PASSWORD_MIN} to {SIP_PASSWORD_MAX} of {SIP_PASSWORD_CHARS}",
            minLength=SIP_PASSWORD_MIN, maxLength=SIP_PASSWORD_MAX,
            pattern=f"^[A-Za-z0-9_.~+-]{{{SIP_PASSWORD_MIN},{SIP_PASSWORD_MAX}}}$",
            writeOnly=True),
]
CallerNumber = Annotated[
    str, _rule(check_caller_number),
    _schema("E.164 without separators, e.g. +79161234567", maxLength=E164_MAX,
            pattern=r"^\+[1-9][0-9]{1,14}$"),
]
OperatorRole = Annotated[
    str, _rule(check_role),
    WithJsonSchema({"type": "string", "enum": list(ROLES), "description": "the operator's role"}),
]
Language = Annotated[
    str, _rule(check_language),
    _schema("language code, e.g. ru or en-GB", maxLength=5, pattern=r"^[a-z]{2}(-[A-Z]{2})?$"),
]
