"""YAML loading that remembers where every value came from.

Admins edit YAML by hand; an error is only useful when it names the file, line and
column.  `load_yaml` returns plain Python data plus a `Marks` map from a path
(tuple of keys / list indexes) to its source position, and rejects duplicate keys
(PyYAML silently keeps the last one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

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


def _pos(file: str, node: Node) -> Position:
    return Position(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _walk(
    node: Node, path: PathKey, marks: Marks, problems: list[Problem], loader: yaml.SafeLoader
) -> Any:
    marks.positions[path] = _pos(marks.file, node)
    if isinstance(node, MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                problems.append(
                    Problem(_pos(marks.file, key_node), "mapping keys must be plain values", path)
                )
                continue
            key_s = key if isinstance(key, str) else str(key)
            if key_s in out:
                problems.append(
                    Problem(_pos(marks.file, key_node), f"duplicate key {key_s!r}", path)
                )
                continue
            marks.key_positions[path + (key_s,)] = _pos(marks.file, key_node)
            out[key_s] = _walk(value_node, path + (key_s,), marks, problems, loader)
        return out
    if isinstance(node, SequenceNode):
        return [
            _walk(child, path + (i,), marks, problems, loader) for i, child in enumerate(node.value)
        ]
    assert isinstance(node, ScalarNode)
    return loader.construct_object(node, deep=True)


def parse_yaml(text: str, file: str) -> tuple[Any, Marks]:
    """Parse YAML text; raises YamlFileError with positions on syntax or duplicate keys.

    Keys are kept as strings (YAML `1:` and `"1":` are the same key), which is what
    DTMF menus want.
    """
    marks = Marks(file)
    problems: list[Problem] = []
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, marks
        data = _walk(node, (), marks, problems, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file, 1, 1)
        msg = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise YamlFileError([Problem(pos, f"YAML syntax error: {msg}")]) from None
    except yaml.YAMLError as exc:
        raise YamlFileError([Problem(Position(file, 1, 1), f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise YamlFileError(problems)
    return data, marks


def load_yaml(path: str | Path) -> tuple[Any, Marks]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError([Problem(Position(str(path), 1, 1), f"cannot read file: {exc.strerror}")]) from None
    return parse_yaml(text, str(path))


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
