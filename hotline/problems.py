"""Problems in admin-written files, each with file, line and column, and the path inside the
document (`nodes -> main -> options`); pydantic errors are mapped onto them through `Marks`.

Pure data: the YAML reader that fills `Marks` is `hotline.yamlsrc`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Position:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        if self.line <= 0:  # not from a file (e.g. an environment variable)
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, with where and at which path."""

    position: Position
    message: str
    path: PathKey = ()

    def __str__(self) -> str:
        where = f" (at {format_path(self.path)})" if self.path else ""
        return f"{self.position}: {self.message}{where}"


class YamlFileError(Exception):
    """A YAML file could not be used; carries every problem found."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.position, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


def format_path(path: PathKey) -> str:
    return " -> ".join(str(p) for p in path)


@dataclass
class Marks:
    file: str
    positions: dict[PathKey, Position] = field(default_factory=dict)
    key_positions: dict[PathKey, Position] = field(default_factory=dict)

    def at(self, path: Iterable[str | int]) -> Position:
        """Position of the value at `path`, or of its nearest known ancestor."""
        path = tuple(path)
        while True:
            if path in self.positions:
                return self.positions[path]
            if not path:
                return Position(self.file, 1, 1)
            path = path[:-1]

    def key_at(self, path: Iterable[str | int]) -> Position:
        """Position of the key naming `path` (better for 'unknown key' errors)."""
        path = tuple(path)
        return self.key_positions.get(path) or self.at(path)


def data_path(loc: Iterable[str | int], marks: Marks) -> PathKey:
    """Drop parts of a pydantic error location that are not in the data (union tags)."""
    path: PathKey = ()
    for part in loc:
        if path + (part,) in marks.positions or path + (part,) in marks.key_positions:
            path = path + (part,)
    return path


def pydantic_problems(exc: Any, marks: Marks, prefix: PathKey = ()) -> list[Problem]:
    """Map a pydantic ValidationError onto file positions."""
    problems = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        path = data_path(loc, marks)
        last = loc[-1] if loc else ""
        if err["type"] == "extra_forbidden":
            problems.append(Problem(marks.key_at(path), f"unknown key {last!r}", path))
        elif err["type"] == "missing":
            problems.append(Problem(marks.at(path), f"missing required key {last!r}", path))
        else:
            msg = err["msg"]
            secret = any("secret" in str(p) or "password" in str(p) for p in loc)
            if "input" in err and not secret and not isinstance(err["input"], (dict, list)):
                msg += f" (got {err['input']!r})"
            problems.append(Problem(marks.at(path), msg, path))
    return problems
