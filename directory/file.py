"""The operator directory file (teams, operators, known callers) and loading it into the database.

Every value obeys directory.validation, the rules the admin API uses too; a value that
breaks one is reported at its file:line:col with the rule's message.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from directory.validation import (
    CallerName,
    CallerNumber,
    Extension,
    Language,
    OperatorName,
    OperatorRole,
    SipPassword,
    TeamName,
)
from hotline.problems import Problem, YamlFileError, pydantic_problems
from hotline.yamlsrc import load_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamEntry(_Strict):
    name: TeamName
    lead: Extension | None = None


class OperatorEntry(_Strict):
    extension: Extension
    name: OperatorName
    role: OperatorRole = "manager"
    team: str | None = None
    password: SipPassword
    backups: list[Extension] = []


class CallerEntry(_Strict):
    number: CallerNumber
    name: CallerName
    vip: bool = False
    manager: Extension | None = None
    language: Language | None = None


class PastCallEntry(_Strict):
    caller: CallerNumber
    answered_by: Extension
    days_ago: int = Field(ge=0)
    intent: str | None = None


class DirectoryFile(_Strict):
    teams: list[TeamEntry] = []
    operators: list[OperatorEntry] = []
    callers: list[CallerEntry] = []
    past_calls: list[PastCallEntry] = []


class DirectoryError(YamlFileError):
    pass


def load_directory_file(path: str | Path) -> DirectoryFile:
    data, marks = load_yaml(path)
    try:
        d = DirectoryFile(**(data or {}))
    except (ValidationError, TypeError) as exc:
        if isinstance(exc, TypeError):
            raise DirectoryError([Problem(marks.at(()), "directory must be a mapping")]) from None
        raise DirectoryError(pydantic_problems(exc, marks)) from None
    problems: list[Problem] = []
    exts = [o.extension for o in d.operators]
    teams = {t.name for t in d.teams}
    for i, op in enumerate(d.operators):
        if exts.count(op.extension) > 1:
            problems.append(Problem(marks.at(("operators", i, "extension")), f"duplicate extension {op.extension}", ("operators", i)))
        if op.team is not None and op.team not in teams:
            problems.append(Problem(marks.at(("operators", i, "team")), f"unknown team {op.team!r}", ("operators", i)))
        for j, b in enumerate(op.backups):
            if b not in exts or b == op.extension:
                problems.append(Problem(marks.at(("operators", i, "backups", j)), f"backup {b} is not another operator", ("operators", i)))
    for i, t in enumerate(d.teams):
        if t.lead is not None and t.lead not in exts:
            problems.append(Problem(marks.at(("teams", i, "lead")), f"team lead {t.lead} is not an operator", ("teams", i)))
    numbers = [c.number for c in d.callers]
    for i, c in enumerate(d.callers):
        if numbers.count(c.number) > 1:
            problems.append(Problem(marks.at(("callers", i, "number")), f"duplicate caller {c.number}", ("callers", i)))
        if c.manager is not None and c.manager not in exts:
            problems.append(Problem(marks.at(("callers", i, "manager")), f"manager {c.manager} is not an operator", ("callers", i)))
    for i, pc in enumerate(d.past_calls):
        if pc.caller not in numbers:
            problems.append(Problem(marks.at(("past_calls", i, "caller")), f"unknown caller {pc.caller}", ("past_calls", i)))
        if pc.answered_by not in exts:
            problems.append(Problem(marks.at(("past_calls", i, "answered_by")), f"unknown operator {pc.answered_by}", ("past_calls", i)))
    if problems:
        raise DirectoryError(problems)
    return d

