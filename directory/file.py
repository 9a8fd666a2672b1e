"""The operator directory file (teams, operators, known callers) and loading it into the database."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline.problems import Problem, YamlFileError, pydantic_problems
from hotline.yamlsrc import load_yaml

EXTENSION = r"^[0-9]{2,10}$"
E164 = r"^\+[1-9][0-9]{6,14}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamEntry(_Strict):
    name: str = Field(min_length=1, max_length=100)
    lead: str | None = Field(None, pattern=EXTENSION)


class OperatorEntry(_Strict):
    extension: str = Field(pattern=EXTENSION)
    name: str = Field(min_length=1, max_length=200)
    role: Literal["manager", "team_lead"] = "manager"
    team: str | None = None
    password: str = Field(min_length=8, max_length=200)
    backups: list[str] = []


class CallerEntry(_Strict):
    number: str = Field(pattern=E164)
    name: str = Field(min_length=1, max_length=200)
    vip: bool = False
    manager: str | None = Field(None, pattern=EXTENSION)
    language: str | None = None


class PastCallEntry(_Strict):
    caller: str = Field(pattern=E164)
    answered_by: str = Field(pattern=EXTENSION)
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


def safe_name(value: str) -> bool:
    return re.fullmatch(r"[\w .'-]{1,200}", value) is not None
