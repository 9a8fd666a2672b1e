"""The directory file (directory/file.py): the shipped demo loads, and every problem, from the
directory's value rules (directory.validation) to references between entries, is reported at
its file:line:col."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from directory.file import DirectoryError, load_directory_file
from hotline.paths import PROJECT_ROOT
from hotline.yamlsrc import YamlFileError

pytestmark = pytest.mark.unit

NOT_ALLOWED = "only letters, digits, spaces and . ' - are allowed"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "directory.yaml"
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(YamlFileError) as exc:  # DirectoryError, or the YAML itself
        load_directory_file(path)
    return [str(p).replace(str(path), "F") for p in exc.value.problems]


def test_the_shipped_directory_loads() -> None:
    d = load_directory_file(PROJECT_ROOT / "config" / "directory.yaml")
    assert [o.extension for o in d.operators] == [f"100{i}" for i in range(1, 8)]
    assert d.operators[0].name == "Anna Petrova" and d.operators[0].backups == ["1002", "1003"]
    assert {t.name: t.lead for t in d.teams} == {"Hotline": "1005", "Payouts": "1006"}
    assert d.callers[0].number == "+79161234567" and d.callers[0].vip is True
    assert d.past_calls[0].answered_by == "1003"


def test_unicode_names_and_every_field(tmp_path: Path) -> None:
    d = load_directory_file(write(tmp_path, """
        teams:
          - {name: Выплаты, lead: "2002"}
        operators:
          - {extension: "2001", name: Анна Петрова, team: Выплаты, password: anna-pass-2001}
          - {extension: "2002", name: "Zoë O'Brien-Smith", role: team_lead, password: zoe-pass-2002,
             backups: ["2001"]}
        callers:
          - {number: "+442079460000", name: 李小龙, vip: true, manager: "2001", language: en-GB}
    """))
    assert [(o.name, o.role, o.team) for o in d.operators] == [
        ("Анна Петрова", "manager", "Выплаты"), ("Zoë O'Brien-Smith", "team_lead", None)]
    assert d.callers[0].name == "李小龙" and d.callers[0].language == "en-GB"


def test_names_that_would_break_asterisk_config(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        teams:
          - name: "Sales & Support"
          - name: "[x]"
        operators:
          - {extension: "1001", name: "Eve,PJSIP/1001", password: demo-pass-1001}
          - extension: "1002"
            name: "Anna "
            password: demo-pass-1002
          - extension: "1003"
            name: |
              Anna
            password: demo-pass-1003
          - {extension: "1004", name: ";", password: demo-pass-1004}
          - {extension: "1005", name: "Анна Петрова Анна Петрова Анна Петрова Анна", password: demo-pass-1005}
        callers:
          - {number: "+79161234567", name: "Maria \\"VIP\\" Ivanova"}
    """) == [
        f"F:2:11: team name may not contain '&': {NOT_ALLOWED} (got 'Sales & Support') (at teams -> 0 -> name)",
        f"F:3:11: team name may not contain '[': {NOT_ALLOWED} (got '[x]') (at teams -> 1 -> name)",
        f"F:5:31: operator name may not contain ',': {NOT_ALLOWED} (got 'Eve,PJSIP/1001') (at operators -> 0 -> name)",
        "F:7:11: operator name must not start or end with whitespace (got 'Anna ') (at operators -> 1 -> name)",
        "F:10:11: operator name may not contain a line break (got 'Anna\\n') (at operators -> 2 -> name)",
        f"F:13:31: operator name may not contain ';': {NOT_ALLOWED} (got ';') (at operators -> 3 -> name)",
        "F:14:31: operator name is 80 bytes long in UTF-8; Asterisk keeps at most 79 (e.g. 79 Latin or "
        "39 Cyrillic letters) (got 'Анна Петрова Анна Петрова Анна Петрова Анна') (at operators -> 4 -> name)",
        f"F:16:36: caller name may not contain '\"': {NOT_ALLOWED} (got 'Maria \"VIP\" Ivanova') "
        "(at callers -> 0 -> name)",
    ]


def test_extensions_passwords_roles_numbers_languages(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        teams:
          - {name: Hotline, lead: "1"}
        operators:
          - {extension: "10a", name: Anna, password: demo-pass-1001}
          - extension: "1002"
            name: Boris
            password: short
            role: boss
            backups: ["10a", "1002 "]
          - {extension: "1003", name: Viktor, password: "has spaces in it"}
        callers:
          - {number: "+7 916 123-45-67", name: Maria}
          - {number: "89162345678", name: Ivan, manager: "+1002"}
          - {number: "+7916345678", name: Elena, language: RU}
        past_calls:
          - {caller: "+79163456789 ", answered_by: "PJSIP/1003", days_ago: 3}
    """) == [
        "F:2:27: extension must be 2 to 10 digits 0-9 (got '1') (at teams -> 0 -> lead)",
        "F:4:17: extension must be 2 to 10 digits 0-9 (got '10a') (at operators -> 0 -> extension)",
        "F:7:15: SIP password must be 12 to 128 characters long (it has 5) (at operators -> 1 -> password)",
        "F:8:11: role must be one of manager, team_lead (got 'boss') (at operators -> 1 -> role)",
        "F:9:15: extension must be 2 to 10 digits 0-9 (got '10a') (at operators -> 1 -> backups -> 0)",
        "F:9:22: extension must not start or end with whitespace (got '1002 ') (at operators -> 1 -> backups -> 1)",
        "F:10:49: SIP password may only contain A-Z a-z 0-9 _ . ~ + - (at operators -> 2 -> password)",
        "F:12:14: caller number must be in E.164 form without separators: +79161234567 "
        "(got '+7 916 123-45-67') (at callers -> 0 -> number)",
        "F:13:14: caller number must be in E.164 form: + and the country code, e.g. +79161234567 "
        "(got '89162345678') (at callers -> 1 -> number)",
        "F:13:50: extension must be 2 to 10 digits 0-9 (got '+1002') (at callers -> 1 -> manager)",
        "F:14:14: caller number is not a possible phone number for its country code "
        "(got '+7916345678') (at callers -> 2 -> number)",
        "F:14:52: language must be a language code like 'ru' or 'en-GB' (got 'RU') (at callers -> 2 -> language)",
        "F:16:14: caller number must not start or end with whitespace (got '+79163456789 ') "
        "(at past_calls -> 0 -> caller)",
        "F:16:44: extension must be 2 to 10 digits 0-9 (got 'PJSIP/1003') (at past_calls -> 0 -> answered_by)",
    ]


def test_passwords_are_never_shown(tmp_path: Path) -> None:
    found = problems(tmp_path, """
        operators:
          - {extension: "1001", name: Anna, password: "secret;x"}
    """)
    assert found == ["F:2:47: SIP password may only contain A-Z a-z 0-9 _ . ~ + - (at operators -> 0 -> password)"]


def test_references_between_entries(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        teams:
          - {name: Hotline, lead: "1009"}
        operators:
          - {extension: "1001", name: Anna, team: Hotline, password: demo-pass-1001, backups: ["1001", "1008"]}
          - {extension: "1001", name: Boris, team: Nights, password: demo-pass-1002}
        callers:
          - {number: "+79161234567", name: Maria, manager: "1007"}
          - {number: "+79161234567", name: Maria Again}
        past_calls:
          - {caller: "+79162345678", answered_by: "1005", days_ago: 1}
    """) == [
        "F:2:27: team lead 1009 is not an operator (at teams -> 0)",
        "F:4:17: duplicate extension 1001 (at operators -> 0)",
        "F:4:88: backup 1001 is not another operator (at operators -> 0)",
        "F:4:96: backup 1008 is not another operator (at operators -> 0)",
        "F:5:17: duplicate extension 1001 (at operators -> 1)",
        "F:5:44: unknown team 'Nights' (at operators -> 1)",
        "F:7:14: duplicate caller +79161234567 (at callers -> 0)",
        "F:7:52: manager 1007 is not an operator (at callers -> 0)",
        "F:8:14: duplicate caller +79161234567 (at callers -> 1)",
        "F:10:14: unknown caller +79162345678 (at past_calls -> 0)",
        "F:10:43: unknown operator 1005 (at past_calls -> 0)",
    ]


def test_structure_problems(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        operators:
          - {extension: "1001", name: Anna, password: demo-pass-1001, colour: red}
          - {extension: 1002, name: Boris}
    """) == [
        "F:2:63: unknown key 'colour' (at operators -> 0 -> colour)",
        "F:3:5: missing required key 'password' (at operators -> 1)",
        "F:3:17: Input should be a valid string (got 1002) (at operators -> 1 -> extension)",
    ]
    with pytest.raises(DirectoryError, match=":1:1: directory must be a mapping$"):
        load_directory_file(write(tmp_path, "- just a list\n"))
    assert problems(tmp_path, "operators: [\n") == [
        "F:2:1: YAML syntax error: while parsing a flow node expected the node content, but found '<stream end>'"]
