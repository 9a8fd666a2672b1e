"""YAML loading that remembers where every value came from.

Admins edit YAML by hand; an error is only useful when it names the file, line and
column.  `load_yaml` returns plain Python data plus a `Marks` map from a path
(tuple of keys / list indexes) to its source position, and rejects duplicate keys
(PyYAML silently keeps the last one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hotline.problems import Marks, PathKey, Position, Problem, YamlFileError


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


