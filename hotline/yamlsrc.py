"""YAML loading that remembers where every value came from, within limits.

Admins edit YAML by hand; an error is only useful when it names the file, line and
column.  `load_yaml` returns plain Python data plus a `Marks` map from a path
(tuple of keys / list indexes) to its source position, and rejects duplicate keys
(PyYAML silently keeps the last one).

Admin files come from people and from the upload API, so the reader bounds what one file
can cost (`YamlLimits`): its size in bytes, the number of YAML nodes (keys, values and
lists: composing costs ~50 us a node in PyYAML's pure-Python composer), the nesting depth
(PyYAML and the walk below recurse per level), and no anchors or aliases at all (`&a` /
`*a`: an alias repeats a node without costing bytes, which is the "billion laughs" file,
and `&a [*a]` is a recursive structure).  Every limit is a `Problem` at file:line:col.
Whatever the text, `parse_yaml` returns data or raises `YamlFileError`; nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hotline.problems import Marks, PathKey, Position, Problem, YamlFileError


@dataclass(frozen=True)
class YamlLimits:
    """What one admin file may cost.  The defaults hold the shipped files many times over
    (the demo dialplan is 8 KB, 429 nodes, 7 levels deep) and keep the worst file within
    about a second of CPU (measured: 20,000 nodes compose in ~1 s)."""

    max_bytes: int = 512 * 1024
    max_nodes: int = 20_000
    max_depth: int = 64


DEFAULT_LIMITS = YamlLimits()
MAX_ALIAS_PROBLEMS = 10  # anchors and aliases reported per file


class _LimitExceeded(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer counts nodes and depth and refuses anchors and aliases.

    An alias is never resolved (it becomes an empty scalar and a problem), so no node is
    ever shared: the composed tree is exactly as large as the text says.
    """

    def __init__(self, text: str, file: str, limits: YamlLimits):
        super().__init__(text)
        self.file = file
        self.limits = limits
        self.node_count = 0
        self.depth = 0
        self.problems: list[Problem] = []

    def _position(self, mark: Any) -> Position:
        return Position(self.file, mark.line + 1, mark.column + 1)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            self.get_event()
            self._count(event)
            self._refuse(event, f"aliases are not allowed here (*{event.anchor}): write the value out")
            return ScalarNode("tag:yaml.org,2002:null", "", event.start_mark, event.end_mark)
        assert isinstance(event, NodeEvent)
        if event.anchor is not None:
            self._refuse(event, f"anchors are not allowed here (&{event.anchor}): write the value out")
            event.anchor = None  # never registered, so nothing can refer to it
        self._count(event)
        self.depth += 1
        try:
            if self.depth > self.limits.max_depth:
                raise _LimitExceeded(Problem(
                    self._position(event.start_mark),
                    f"nested too deeply: more than {self.limits.max_depth} levels",
                ))
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _refuse(self, event: Any, message: str) -> None:
        if len(self.problems) < MAX_ALIAS_PROBLEMS:  # the first few say it all
            self.problems.append(Problem(self._position(event.start_mark), message))

    def _count(self, event: Any) -> None:
        self.node_count += 1
        if self.node_count > self.limits.max_nodes:
            raise _LimitExceeded(Problem(
                self._position(event.start_mark),
                f"too many YAML nodes: more than {self.limits.max_nodes} keys, values and lists",
            ))


def _pos(file: str, node: Node) -> Position:
    return Position(file, node.start_mark.line + 1, node.start_mark.column + 1)


_BAD = object()  # a value that could not be built (its problem is already listed)


def _construct(loader: yaml.SafeLoader, node: Node, file: str, problems: list[Problem]) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError:
        raise  # marked: an unknown tag, a !!binary that is not base64, ...
    except (ValueError, OverflowError) as exc:  # e.g. the date 2025-02-30, a 5000-digit int
        message = f"bad value: {exc}"
    except Exception:  # PyYAML's constructors choke on some tagged values: `!!int` alone
        tag = node.tag.rsplit(":", 1)[-1]
        shown = node.value if isinstance(node.value, str) and len(node.value) <= 40 else "this"
        message = f"bad value: {shown!r} cannot be read as !!{tag}"
    problems.append(Problem(_pos(file, node), message))
    return _BAD


def _walk(
    node: Node, path: PathKey, marks: Marks, problems: list[Problem], loader: yaml.SafeLoader
) -> Any:
    marks.positions[path] = _pos(marks.file, node)
    if isinstance(node, MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node, marks.file, problems)
            if key is _BAD:
                continue
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
    value = _construct(loader, node, marks.file, problems)
    return None if value is _BAD else value


def _too_large(text: str, file: str, limits: YamlLimits) -> Problem | None:
    # a character is 1-4 bytes: only encode when the length alone does not decide
    if len(text) > limits.max_bytes or len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        return Problem(
            Position(file, 1, 1),
            f"file too large: more than {limits.max_bytes} bytes",
        )
    return None


def _char_position(text: str, file: str, index: int) -> Position:
    before = text[:index]
    line = before.count("\n") + 1
    return Position(file, line, index - (before.rfind("\n") + 1) + 1)


def parse_yaml(text: str, file: str, limits: YamlLimits = DEFAULT_LIMITS) -> tuple[Any, Marks]:
    """Parse YAML text; raises YamlFileError with positions on syntax errors, duplicate
    keys, values that cannot be built, and anything over `limits` (anchors and aliases
    included).

    Keys are kept as strings (YAML `1:` and `"1":` are the same key), which is what
    DTMF menus want.
    """
    marks = Marks(file)
    too_large = _too_large(text, file, limits)
    if too_large is not None:
        raise YamlFileError([too_large])
    problems: list[Problem] = []
    loader: _Loader | None = None
    try:
        loader = _Loader(text, file, limits)
        node = loader.get_single_node()
        if loader.problems:
            raise YamlFileError(loader.problems)
        if node is None:
            return None, marks
        data = _walk(node, (), marks, problems, loader)
    except _LimitExceeded as exc:
        raise YamlFileError([*(loader.problems if loader else []), exc.problem]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file, 1, 1)
        msg = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        earlier = loader.problems if loader else []
        raise YamlFileError([*earlier, Problem(pos, f"YAML syntax error: {msg}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. NUL
        pos = _char_position(text, file, exc.position)
        raise YamlFileError([Problem(pos, f"YAML error: {exc.reason} #x{exc.character:04x}")]) from None
    except yaml.YAMLError as exc:
        raise YamlFileError([Problem(Position(file, 1, 1), f"YAML error: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if problems:
        raise YamlFileError(problems)
    return data, marks


def read_text(path: str | Path, limits: YamlLimits = DEFAULT_LIMITS) -> str:
    """Read an admin file as UTF-8, reading no more than the size limit allows."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(limits.max_bytes + 1)
    except OSError as exc:
        raise YamlFileError(
            [Problem(Position(str(path), 1, 1), f"cannot read file: {exc.strerror}")]
        ) from None
    if len(raw) > limits.max_bytes:
        raise YamlFileError(
            [Problem(Position(str(path), 1, 1), f"file too large: more than {limits.max_bytes} bytes")]
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start].decode("utf-8")  # valid up to the bad byte
        pos = _char_position(before, str(path), len(before))
        raise YamlFileError([Problem(pos, f"cannot read file: not UTF-8 ({exc.reason})")]) from None


def load_yaml(path: str | Path, limits: YamlLimits = DEFAULT_LIMITS) -> tuple[Any, Marks]:
    return parse_yaml(read_text(path, limits), str(path), limits)
