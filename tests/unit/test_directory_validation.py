"""The directory's rules (directory.validation): each rule with values it takes and values
it refuses, the pydantic types running the same functions, the config writer refusing
exactly what the rules refuse, and any accepted name rendering into pjsip.conf and
queues.conf as one value, never as extra fields, lines or sections."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, ValidationError

from directory.validation import (
    CallerName,
    CallerNumber,
    Extension,
    Language,
    OperatorName,
    OperatorRole,
    SipPassword,
    TeamName,
    check_caller_name,
    check_caller_number,
    check_extension,
    check_language,
    check_operator_name,
    check_role,
    check_sip_password,
    check_team_name,
)
from hotline.paths import PROJECT_ROOT
from hotline.pbx.asterisk import AsteriskError, Operator, _check_operator

pytestmark = pytest.mark.unit

NOT_ALLOWED = "only letters, digits, spaces and . ' - are allowed"

GOOD_OPERATOR_NAMES = [
    "Anna Petrova",
    "Анна Петрова",
    "Ольга Кузнецова-Иванова",
    "Zoë O'Brien-Smith",
    "Zoe\u0308 Decomposed",  # a combining diaeresis (NFD) is part of a letter
    "李小龙",
    "J. R. R. Tolkien",
    "Agent 007",
    "1st Line",
    "A" * 79,  # 79 bytes: what app_queue keeps of a member name
    "Я" * 39,  # 78 bytes in UTF-8
]

# (value, what the message says); shared by the three kinds of names
BAD_NAMES = [
    ("Eve,PJSIP/1001", "may not contain ',': " + NOT_ALLOWED),
    ("Anna ", "must not start or end with whitespace"),
    (" Anna", "must not start or end with whitespace"),
    ("Anna\n", "may not contain a line break"),
    ("Anna\r\n[1001]", "may not contain a line break"),
    ("Anna\u2028B", "may not contain a line break"),
    (";", "may not contain ';'"),
    ("Anna; comment", "may not contain ';'"),
    ("[x]", "may not contain '\\['"),
    ("x=y", "may not contain '='"),
    ('Anna "the boss"', "may not contain '\"'"),
    ("Anna\\", "may not contain '\\\\\\\\'"),
    ("Anna (day", "may not contain '\\('"),
    ("<1002>", "may not contain '<'"),
    ("${SHELL}", "may not contain '\\$'"),
    ("Anna&Boris", "may not contain '&'"),
    ("Anna/Boris", "may not contain '/'"),
    ("Anna\tB", "may not contain a control character \\(U\\+0009\\)"),
    ("Anna\x00", "may not contain a control character \\(U\\+0000\\)"),
    ("Anna\x7f", "may not contain a control character \\(U\\+007F\\)"),
    ("Anna\u00a0B", "may not contain U\\+00A0 \\(no-break space\\)"),
    ("Anna\u202eB", "may not contain U\\+202E \\(right-to-left override\\)"),
    ("Anna\u200bB", "may not contain U\\+200B \\(zero width space\\)"),
    ("-Anna", "must start with a letter or a digit"),
    ("'Anna'", "must start with a letter or a digit"),
    ("\u0308Anna", "must start with a letter or a digit"),
    ("", "must not be empty"),
]


@pytest.mark.parametrize("value", GOOD_OPERATOR_NAMES)
def test_operator_names_taken(value: str) -> None:
    assert check_operator_name(value) == value


@pytest.mark.parametrize(("value", "message"), BAD_NAMES)
@pytest.mark.parametrize(("check", "what"), [
    (check_operator_name, "operator name"), (check_team_name, "team name"),
    (check_caller_name, "caller name"),
])  # fmt: skip
def test_bad_names_refused(check: Callable[[object], str], what: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{what} {message}"):
        check(value)


@pytest.mark.parametrize(("value", "message"), [
    ("A" * 80, "operator name is 80 characters long; at most 79 are allowed"),
    ("Я" * 40, "operator name is 80 bytes long in UTF-8; Asterisk keeps at most 79"),
    ("Анна Петрова " * 6 + "X", "operator name is 145 bytes long in UTF-8"),
])  # fmt: skip
def test_operator_name_fits_the_queue_member_name(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        check_operator_name(value)


def test_team_and_caller_name_lengths() -> None:
    assert check_team_name("Выплаты") == "Выплаты"
    assert check_team_name("T" * 100) == "T" * 100
    with pytest.raises(ValueError, match="^team name is 101 characters long; at most 100 are allowed$"):
        check_team_name("T" * 101)
    assert check_caller_name("Мария " + "И" * 194) == "Мария " + "И" * 194  # 200 characters
    with pytest.raises(ValueError, match="^caller name is 201 characters long; at most 200 are allowed$"):
        check_caller_name("C" * 201)


@pytest.mark.parametrize("value", [None, 42, b"Anna"])
def test_names_must_be_strings(value: object) -> None:
    with pytest.raises(ValueError, match="^operator name must be a string$"):
        check_operator_name(value)


@pytest.mark.parametrize("value", ["10", "1001", "0123456789"])
def test_extensions_taken(value: str) -> None:
    assert check_extension(value) == value


@pytest.mark.parametrize(("value", "message"), [
    ("1", "must be 2 to 10 digits 0-9"),
    ("12345678901", "must be 2 to 10 digits 0-9"),
    ("10a", "must be 2 to 10 digits 0-9"),
    ("+1001", "must be 2 to 10 digits 0-9"),
    ("PJSIP/1001", "must be 2 to 10 digits 0-9"),
    ("10,01", "must be 2 to 10 digits 0-9"),
    ("١٠٠١", "must be 2 to 10 digits 0-9"),  # Arabic-Indic digits are not a SIP user name
    ("1001 ", "must not start or end with whitespace"),
    ("1001\n", "may not contain a line break"),
    ("", "must not be empty"),
    (1001, "must be a string"),
])  # fmt: skip
def test_extensions_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^extension {re.escape(message)}$"):
        check_extension(value)


@pytest.mark.parametrize("value", ["demo-pass-1001", "x" * 12, "A" * 128, "a.b~c+d_e-f0Z"])
def test_sip_passwords_taken(value: str) -> None:
    assert check_sip_password(value) == value


@pytest.mark.parametrize(("value", "message"), [
    ("short-pw", "must be 12 to 128 characters long (it has 8)"),
    ("x" * 11, "must be 12 to 128 characters long (it has 11)"),
    ("x" * 129, "must be 12 to 128 characters long (it has 129)"),
    ("has space in it", "may only contain A-Z a-z 0-9 _ . ~ + -"),
    ("pass;word-1234", "may only contain A-Z a-z 0-9 _ . ~ + -"),
    ("pass\nword-1234", "may only contain A-Z a-z 0-9 _ . ~ + -"),
    ("demo-pass-1001 ", "may only contain A-Z a-z 0-9 _ . ~ + -"),
    ("пароль-пароль-1", "may only contain A-Z a-z 0-9 _ . ~ + -"),
    ('pass"word-1234', "may only contain A-Z a-z 0-9 _ . ~ + -"),
    ("", "must not be empty"),
])  # fmt: skip
def test_sip_passwords_refused_without_showing_them(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^SIP password {re.escape(message)}$") as exc:
        check_sip_password(value)
    if value.strip():
        assert value.strip() not in str(exc.value)


@pytest.mark.parametrize("value", [
    "+79161234567", "+79001234567", "+442079460000", "+12025550123", "+390612345678",
])  # fmt: skip
def test_caller_numbers_taken(value: str) -> None:
    assert check_caller_number(value) == value


@pytest.mark.parametrize(("value", "message"), [
    ("+7 916 123-45-67", "must be in E.164 form without separators: +79161234567"),
    ("+7(916)1234567", "must be in E.164 form without separators: +79161234567"),
    ("79161234567", "must be in E.164 form: + and the country code, e.g. +79161234567"),
    ("89161234567", "must be in E.164 form: + and the country code, e.g. +79161234567"),
    ("sip:+79161234567@host", "must be in E.164 form: + and the country code, e.g. +79161234567"),
    ("anonymous", "must be in E.164 form: + and the country code, e.g. +79161234567"),
    ("+7916123456", "is not a possible phone number for its country code"),
    ("+79161234567890", "is not a possible phone number for its country code"),
    ("+0123456789", "is not a possible phone number for its country code"),
    ("+79161234567 ", "must not start or end with whitespace"),
    ("+79161234567\n", "may not contain a line break"),
    ("", "must not be empty"),
])  # fmt: skip
def test_caller_numbers_refused(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^caller number {re.escape(message)}$"):
        check_caller_number(value)


@pytest.mark.parametrize("value", ["manager", "team_lead"])
def test_roles_taken(value: str) -> None:
    assert check_role(value) == value


@pytest.mark.parametrize("value", ["admin", "Manager", "team lead", "", None])
def test_roles_refused(value: object) -> None:
    with pytest.raises(ValueError, match="^role must be one of manager, team_lead$"):
        check_role(value)


@pytest.mark.parametrize("value", ["ru", "en", "en-GB", "pt-BR"])
def test_languages_taken(value: str) -> None:
    assert check_language(value) == value


@pytest.mark.parametrize(("value", "message"), [
    ("RU", "must be a language code like 'ru' or 'en-GB'"),
    ("rus", "must be a language code like 'ru' or 'en-GB'"),
    ("en_GB", "must be a language code like 'ru' or 'en-GB'"),
    ("en-gb", "must be a language code like 'ru' or 'en-GB'"),
    ("ру", "must be a language code like 'ru' or 'en-GB'"),
    ("ru ", "must not start or end with whitespace"),
    ("ru\n", "may not contain a line break"),
    ("", "must not be empty"),
])  # fmt: skip
def test_languages_refused(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^language {re.escape(message)}$"):
        check_language(value)


# --- the pydantic types ------------------------------------------------------------------------


class Everything(BaseModel):
    operator: OperatorName
    team: TeamName
    caller: CallerName
    extension: Extension
    password: SipPassword
    number: CallerNumber
    role: OperatorRole = "manager"
    language: Language | None = None
    lead: Extension | None = None


GOOD = dict(operator="Анна Петрова", team="Hotline", caller="Maria Ivanova", extension="1001",
            password="demo-pass-1001", number="+79161234567")  # fmt: skip


def test_the_types_take_good_values_and_none_where_optional() -> None:
    m = Everything(**GOOD, language=None, lead=None)
    assert m.model_dump() == {**GOOD, "role": "manager", "language": None, "lead": None}
    assert Everything(**GOOD, role="team_lead", language="en-GB", lead="1005").lead == "1005"


@pytest.mark.parametrize(("field", "value", "check"), [
    ("operator", "Eve,PJSIP/1001", check_operator_name),
    ("operator", "Anna ", check_operator_name),
    ("operator", "Я" * 40, check_operator_name),
    ("team", "[x]", check_team_name),
    ("caller", "Anna\n", check_caller_name),
    ("extension", "10a", check_extension),
    ("lead", "1", check_extension),
    ("password", "too-short", check_sip_password),
    ("number", "+7 916 123-45-67", check_caller_number),
    ("role", "admin", check_role),
    ("language", "RU", check_language),
])  # fmt: skip
def test_the_types_refuse_with_the_functions_message(field: str, value: str,
                                                      check: Callable[[object], str]) -> None:  # fmt: skip
    with pytest.raises(ValueError) as plain:
        check(value)
    with pytest.raises(ValidationError) as exc:
        Everything(**{**GOOD, field: value})
    [err] = exc.value.errors()
    assert err["loc"] == (field,)
    assert err["type"] == "directory_rule"
    assert err["msg"] == str(plain.value)


def test_the_types_refuse_non_strings() -> None:
    with pytest.raises(ValidationError) as exc:
        Everything(**{**GOOD, "extension": 1001})
    assert [e["type"] for e in exc.value.errors()] == ["string_type"]


def test_the_json_schema_tells_the_limits() -> None:
    props = Everything.model_json_schema()["properties"]
    assert props["operator"]["maxLength"] == 79 and "79 bytes" in props["operator"]["description"]
    assert props["team"]["maxLength"] == 100 and props["caller"]["maxLength"] == 200
    assert props["extension"]["pattern"] == "^[0-9]{2,10}$"
    assert props["password"]["pattern"] == "^[A-Za-z0-9_.~+-]{12,128}$"
    assert props["password"]["writeOnly"] is True
    assert props["number"]["maxLength"] == 16
    assert props["role"]["enum"] == ["manager", "team_lead"]
    assert props["language"]["anyOf"][0]["pattern"] == "^[a-z]{2}(-[A-Z]{2})?$"
    assert props["lead"]["anyOf"][1] == {"type": "null"}


# --- the config writer: the same rules -------------------------------------------------------


@pytest.mark.parametrize("name", GOOD_OPERATOR_NAMES)
def test_the_config_writer_takes_what_the_rules_take(name: str) -> None:
    _check_operator(Operator("1001", name, "demo-pass-1001"))


@pytest.mark.parametrize("op", [
    *(Operator("1001", name, "demo-pass-1001") for name, _ in BAD_NAMES),
    Operator("1001", "A" * 80, "demo-pass-1001"),
    Operator("1001", "Я" * 40, "demo-pass-1001"),
    Operator("10a", "Anna", "demo-pass-1001"),
    Operator("1001\n[x]", "Anna", "demo-pass-1001"),
    Operator("1001", "Anna", "short"),
    Operator("1001", "Anna", "demo pass 1001"),
])  # fmt: skip
def test_the_config_writer_refuses_what_the_rules_refuse(op: Operator) -> None:
    with pytest.raises(ValueError) as rule:
        check_extension(op.extension)
        check_operator_name(op.name)
        check_sip_password(op.password)
    with pytest.raises(AsteriskError) as exc:
        _check_operator(op)
    assert str(exc.value) == f"operator {op.extension!r} cannot go into Asterisk configuration: {rule.value}"
    assert op.password not in str(exc.value)


def test_the_ground_does_not_import_directory() -> None:
    """hotline.pbx (the config writer and its rules) sits below directory/: it may not import it."""
    top = PROJECT_ROOT / "hotline"
    ground = [p for p in top.rglob("*.py") if p.relative_to(top).parts[0] != "app"]
    assert PROJECT_ROOT / "hotline" / "pbx" / "confvalues.py" in ground
    for path in ground:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []  # fmt: skip
            assert not any(n == "directory" or n.startswith("directory.") for n in names), path


# --- any accepted name renders as one value ----------------------------------------------------


def _render(template: str, operators: list[Operator]) -> str:
    env = Environment(loader=FileSystemLoader(str(PROJECT_ROOT / "asterisk" / "templates")),
                      undefined=StrictUndefined, keep_trailing_newline=True)  # fmt: skip
    return env.get_template(template).render(operators=operators, sip_port=5060, test_caller=True,
                                             pool_queue="operators-pool", sip_host="127.0.0.1",
                                             sip_proxy=None, sip_proxy_host="")  # fmt: skip


def _conf_lines(text: str) -> list[str]:
    """Lines as Asterisk's config parser keeps them: `;` starts a comment unless escaped."""
    out = []
    for line in text.splitlines():
        line = re.split(r"(?<!\\);", line, maxsplit=1)[0].strip()
        if line:
            out.append(line)
    return out


def _app_args(value: str) -> list[str]:
    """Split like Asterisk's standard application arguments: `,` outside (...) and "...",
    with backslash escapes and the quotes removed; each field trimmed."""
    fields, cur, paren, quote, i = [], "", 0, False, 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            cur, i = cur + value[i + 1], i + 2
            continue
        if ch == '"':
            quote = not quote
        elif ch == "(" and not quote:
            paren, cur = paren + 1, cur + ch
        elif ch == ")" and not quote:
            paren, cur = max(0, paren - 1), cur + ch
        elif ch == "," and not paren and not quote:
            fields, cur = fields + [cur.strip()], ""
        else:
            cur += ch
        i += 1
    return fields + [cur.strip()]


# mostly name characters, with everything that is special somewhere mixed in: the rules decide
NAME_ALPHABET = st.one_of(
    st.sampled_from(list(" .'-Aaя李")), st.characters(categories=("L", "M", "Nd")),
    st.sampled_from(list(",;[]=\"\\()<>$&/\n\r\t\x00\u00a0\u202e")), st.characters(codec="utf-8"),
)


def test_the_harness_sees_the_old_injection() -> None:
    """What the API once let through: a name that became extra fields of the member line."""
    [line] = [ln for ln in _conf_lines(_render("queues.conf.j2", [Operator("1001", "Eve,PJSIP/1002", "x")]))
              if ln.startswith("member")]  # fmt: skip
    assert _app_args(line.split("=>", 1)[1]) == ["PJSIP/1001", "0", "Eve", "PJSIP/1002", "PJSIP/1001"]
    assert len(_conf_lines(_render("pjsip.conf.j2", [Operator("1001", "A\n[x]", "x")]))) > len(
        _conf_lines(_render("pjsip.conf.j2", [Operator("1001", "A", "x")])))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(NAME_ALPHABET, min_size=1, max_size=40), min_size=1, max_size=4))
def test_any_accepted_name_is_one_value_in_queues_and_pjsip(names: list[str]) -> None:
    accepted = []
    for name in names:
        try:
            accepted.append(check_operator_name(name))
        except ValueError:
            pass
    ops = [Operator(f"{1001 + i}", name, f"demo-pass-{1001 + i}") for i, name in enumerate(accepted)]

    members = [ln for ln in _conf_lines(_render("queues.conf.j2", ops)) if ln.startswith("member")]
    assert [_app_args(m.split("=>", 1)[1]) for m in members] == [
        [f"PJSIP/{o.extension}", "0", o.name, f"PJSIP/{o.extension}"] for o in ops
    ]

    pjsip = _conf_lines(_render("pjsip.conf.j2", ops))
    sections = [ln for ln in pjsip if ln.startswith("[")]
    assert len(sections) == 5 + 3 * len(ops)  # global, transport, template, test caller (2)
    callerids = [ln.split("=", 1)[1].strip() for ln in pjsip if ln.startswith("callerid")]
    assert callerids == [f'"{o.name}" <{o.extension}>' for o in ops]
    for o in ops:
        assert len(o.name.encode("utf-8")) <= 79
