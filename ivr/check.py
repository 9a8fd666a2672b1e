"""Load a dialplan and report every problem in it, each with file:line:column.

Per-value errors come from pydantic (mapped through YAML marks); the rules that need the
whole file are here: destinations exist, every node is reachable, no loop runs without
waiting for the caller, the operator key works everywhere, sound files exist.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from hotline.problems import (
    Marks,
    PathKey,
    Problem,
    YamlFileError,
    data_path,
    pydantic_problems,
)
from hotline.yamlsrc import parse_yaml, read_text
from ivr.model import (
    CALLBACK_TEXT_VARIABLES,
    INPUT_NODES,
    KEYED_NODES,
    QUEUE_TEXT_VARIABLES,
    AnswerNode,
    BotNode,
    CollectNode,
    ConditionNode,
    Dialplan,
    GotoNode,
    Greeting,
    LanguageNode,
    MenuNode,
    Node,
    OperatorNode,
    PlayNode,
    PromptItem,
    SetNode,
    Settings,
    parse_days,
)

SOUND_EXTENSIONS = ("wav", "WAV", "gsm", "ulaw", "alaw", "sln", "sln16", "g722", "g729", "mp3")
BUILTIN_VARIABLES = frozenset({"caller_name", "caller_number", "language", "bot_intent"})
_VAR_REF = re.compile(r"\{([^{}]*)\}")
_node_adapter: TypeAdapter[Any] = TypeAdapter(Node)


class DialplanError(YamlFileError):
    """A dialplan that must not be activated; `problems` lists everything wrong."""


def node_edges(node: BaseModel) -> Iterator[tuple[PathKey, str]]:
    """(path inside the node, destination id) for every explicit exit of a node."""
    if isinstance(node, MenuNode):
        for key, dest in node.options.items():
            yield ("options", key), dest
    if isinstance(node, CollectNode | LanguageNode | PlayNode | AnswerNode | BotNode | SetNode):
        yield ("next",), node.next
    for field in ("on_no_input", "on_invalid", "on_operator", "on_failure", "on_error"):
        dest = getattr(node, field, None)
        if dest is not None:
            yield (field,), dest
    if isinstance(node, GotoNode):
        yield ("to",), node.to
    if isinstance(node, ConditionNode):
        for i, check in enumerate(node.when):
            yield ("when", i, "goto"), check.goto
        yield ("else",), node.else_


def implicit_operator(node: BaseModel) -> bool:
    """Nodes whose silence/bad keys/operator key fall back to the operator node."""
    if isinstance(node, KEYED_NODES):
        return True
    if isinstance(node, BotNode):
        return node.on_operator is None
    if isinstance(node, AnswerNode):
        return node.on_error is None
    return False


def prompt_fields(node: BaseModel) -> Iterator[tuple[PathKey, Any]]:
    for field in ("prompt", "no_input_prompt", "invalid_prompt"):
        value = getattr(node, field, None)
        if value is not None:
            yield (field,), value


# ---------------------------------------------------------------- loading


def parse_dialplan(
    text: str, file: str, sound_dirs: Sequence[str | Path] = ()
) -> tuple[Dialplan | None, list[Problem]]:
    """Parse and check; returns the dialplan only when there are no problems."""
    try:
        data, marks = parse_yaml(text, file)  # within the reader's limits: no aliases, ...
    except YamlFileError as exc:
        return None, list(exc.problems)
    if not isinstance(data, dict):
        return None, [Problem(marks.at(()), "a dialplan must be a mapping of settings and nodes")]

    problems: list[Problem] = []
    head = {k: v for k, v in data.items() if k != "nodes"}
    settings, bad_settings = _settings(head, marks, problems)

    raw_nodes = data.get("nodes")
    nodes: dict[str, Any] = {}
    if raw_nodes is None:
        problems.append(Problem(marks.at(()), "missing required key 'nodes'"))
        raw_nodes = {}
    elif not isinstance(raw_nodes, dict) or not raw_nodes:
        problems.append(
            Problem(marks.at(("nodes",)), "`nodes` must map node ids to nodes", ("nodes",))
        )
        raw_nodes = {}
    broken: dict[str, list[str]] = {}  # nodes that failed validation -> ids they mention
    for node_id, raw in raw_nodes.items():
        try:
            nodes[node_id] = _node_adapter.validate_python(raw)
        except ValidationError as exc:
            problems += pydantic_problems(exc, marks, ("nodes", node_id))
            broken[node_id] = [s for s in _strings(raw) if s in raw_nodes]

    if settings is not None:
        problems += cross_check(
            settings, nodes, set(raw_nodes), marks, sound_dirs, bad_settings, broken
        )

    if problems:
        return None, sorted(set(problems), key=lambda p: (p.position, p.message))
    dialplan = Dialplan.model_validate(data)
    return dialplan.with_source_id(hashlib.sha256(text.encode()).hexdigest()[:12]), []


def _settings(
    head: dict[str, Any], marks: Marks, problems: list[Problem]
) -> tuple[Settings | None, set[str]]:
    """Validate the top-level settings; on errors, stand in defaults for the bad keys so
    the node checks still run (checks that rely on a bad key are skipped)."""
    try:
        return Settings.model_validate(head), set()
    except ValidationError as exc:
        problems += pydantic_problems(exc, marks)
        bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    stand_in = {
        "version": "0",
        "name": "?",
        "timezone": "UTC",
        "languages": ["?"],
        "voice": "?",
        "start": "?",
    }
    fallback = {k: v for k, v in head.items() if k not in bad and k in Settings.model_fields}
    for key, value in stand_in.items():
        if key not in fallback:
            fallback[key] = value
            bad.add(key)
    try:
        return Settings.model_validate(fallback), bad
    except ValidationError:
        return None, bad


def _strings(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, dict):
        return [s for v in raw.values() for s in _strings(v)]
    if isinstance(raw, list):
        return [s for v in raw for s in _strings(v)]
    return []


def load_dialplan(path: str | Path, sound_dirs: Sequence[str | Path] = ()) -> Dialplan:
    """Load a dialplan or raise DialplanError carrying every problem."""
    try:
        text = read_text(path)
    except YamlFileError as exc:
        raise DialplanError(exc.problems) from None
    dialplan, problems = parse_dialplan(text, str(path), sound_dirs)
    if problems:
        raise DialplanError(problems)
    assert dialplan is not None
    return dialplan


def check_files(
    paths: Iterable[str | Path], sound_dirs: Sequence[str | Path] = ()
) -> list[Problem]:
    problems: list[Problem] = []
    for path in paths:
        try:
            load_dialplan(path, sound_dirs)
        except DialplanError as exc:
            problems += exc.problems
    return problems


# ---------------------------------------------------------------- whole-file rules


def cross_check(
    settings: Settings,
    nodes: dict[str, Any],
    all_ids: set[str],
    marks: Marks,
    sound_dirs: Sequence[str | Path] = (),
    bad_settings: set[str] = frozenset(),  # type: ignore[assignment]
    broken: dict[str, list[str]] | None = None,
) -> list[Problem]:
    """Rules across nodes.  `bad_settings` names top-level keys that failed validation
    (checks depending on them are skipped); `broken` maps nodes that failed validation to
    the ids they mention, so their targets do not look unreachable."""
    problems: list[Problem] = []
    broken = broken or {}

    def problem(path: PathKey, message: str, key: bool = False) -> None:
        pos = marks.key_at(path) if key else marks.at(path)
        problems.append(Problem(pos, message, path))

    langs = settings.languages
    if len(set(langs)) != len(langs):
        problem(("languages",), "a language is listed twice")

    # start and the operator node
    if settings.start not in all_ids and "start" not in bad_settings:
        problem(("start",), f"start node {settings.start!r} does not exist")
    op = settings.operator_node
    if "operator_node" in bad_settings:
        pass
    elif op not in all_ids:
        problem(
            ("operator_node",) if ("operator_node",) in marks.positions else ("nodes",),
            f"operator node {op!r} does not exist (add a node of type operator, or set operator_node)",
        )
    elif op in nodes and not isinstance(nodes[op], OperatorNode):
        problem(("nodes", op, "type"), f"operator node {op!r} must have type operator")

    # business hours: a weekday given twice
    seen_days: dict[int, str] = {}
    for spec in settings.business_hours:
        for d in parse_days(spec):
            if d in seen_days:
                problem(
                    ("business_hours", spec), f"weekday also covered by {seen_days[d]!r}", key=True
                )
                break
            seen_days[d] = spec

    # destinations
    for node_id, node in nodes.items():
        for sub, dest in node_edges(node):
            if dest not in all_ids:
                problem(("nodes", node_id, *sub), f"no node named {dest!r}")

    if "operator_key" not in bad_settings:
        problems += _operator_exit(settings, nodes, marks)
    if "start" not in bad_settings:
        problems += _reachability(settings, nodes, marks, broken)
    problems += _input_free_loops(nodes, marks)
    if "languages" not in bad_settings:
        problems += _prompts(settings, nodes, marks, sound_dirs)
    else:
        langs = []

    for node_id, node in nodes.items():
        if isinstance(node, LanguageNode):
            for key, lang in node.options.items():
                if langs and lang not in langs:
                    problem(
                        ("nodes", node_id, "options", key),
                        f"language {lang!r} is not in `languages`",
                    )
        if isinstance(node, ConditionNode):
            for i, check in enumerate(node.when):
                if check.language is not None and langs and check.language not in langs:
                    problem(
                        ("nodes", node_id, "when", i, "language"),
                        f"language {check.language!r} is not in `languages`",
                    )
        if isinstance(node, CollectNode) and node.min_digits == 1 and node.operator_exit:
            if settings.operator_key in "0123456789":
                problem(
                    ("nodes", node_id, "min_digits"),
                    f"min_digits 1 makes a lone {settings.operator_key!r} ambiguous with the operator key; use 2 or more",
                )
    return problems


def _operator_exit(settings: Settings, nodes: dict[str, Any], marks: Marks) -> list[Problem]:
    problems = []
    key = settings.operator_key
    for node_id, node in nodes.items():
        if not isinstance(node, KEYED_NODES) or node.operator_exit_exception:
            continue
        base = ("nodes", node_id)
        if not node.operator_exit:
            problems.append(
                Problem(
                    marks.at(base + ("operator_exit",)),
                    "operator_exit is off; every menu must let the caller reach an operator "
                    "(give operator_exit_exception: <reason> if this is intended)",
                    base + ("operator_exit",),
                )
            )
        options = getattr(node, "options", {})
        if isinstance(node, MenuNode) and key in options:
            dest = nodes.get(options[key])
            if dest is not None and not isinstance(dest, OperatorNode):
                path = base + ("options", key)
                problems.append(
                    Problem(
                        marks.at(path),
                        f"the operator key {key!r} must lead to an operator node "
                        "(give operator_exit_exception: <reason> if this is intended)",
                        path,
                    )
                )
        if isinstance(node, LanguageNode) and key in options:
            path = base + ("options", key)
            problems.append(
                Problem(
                    marks.at(path),
                    f"the operator key {key!r} cannot choose a language "
                    "(give operator_exit_exception: <reason> if this is intended)",
                    path,
                )
            )
    return problems


def _successors(settings: Settings, node: Any) -> list[str]:
    out = [dest for _, dest in node_edges(node)]
    if implicit_operator(node):
        out.append(settings.operator_node)
    return out


def _reachability(
    settings: Settings, nodes: dict[str, Any], marks: Marks, broken: dict[str, list[str]]
) -> list[Problem]:
    if settings.start not in nodes and settings.start not in broken:
        return []
    seen = {settings.start}
    todo = [settings.start]
    while todo:
        nid = todo.pop()
        node = nodes.get(nid)
        successors = _successors(settings, node) if node is not None else broken.get(nid, [])
        for dest in successors:
            if dest not in seen:
                seen.add(dest)
                todo.append(dest)
    return [
        Problem(
            marks.key_at(("nodes", nid)),
            f"node {nid!r} cannot be reached from start",
            ("nodes", nid),
        )
        for nid in nodes
        if nid not in seen
    ]


def _input_free_loops(nodes: dict[str, Any], marks: Marks) -> list[Problem]:
    """Cycles through nodes that never wait for the caller would spin forever (a language
    node that skips known callers waits for nobody when the language is known)."""
    passive = {
        nid for nid, n in nodes.items()
        if not isinstance(n, INPUT_NODES) or (isinstance(n, LanguageNode) and n.skip_when_known)
    }
    graph = {nid: [d for _, d in node_edges(nodes[nid]) if d in passive] for nid in passive}
    problems = []
    reported: set[str] = set()
    for scc in _strongly_connected(graph):
        if len(scc) == 1 and scc[0] not in graph[scc[0]]:
            continue
        order = [nid for nid in nodes if nid in scc]
        first = order[0]
        if first in reported:
            continue
        reported.update(order)
        problems.append(
            Problem(
                marks.key_at(("nodes", first)),
                "loop without any caller input: " + " -> ".join(order + [first]),
                ("nodes", first),
            )
        )
    return problems


def _strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(graph[w])))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    scc = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        scc.append(w)
                        if w == v:
                            break
                    out.append(scc)
    return out


def _prompts(
    settings: Settings, nodes: dict[str, Any], marks: Marks, sound_dirs: Sequence[str | Path]
) -> list[Problem]:
    problems: list[Problem] = []
    known_vars = set(BUILTIN_VARIABLES)
    for node in nodes.values():
        if isinstance(node, CollectNode):
            known_vars.add(node.into)
        if isinstance(node, SetNode):
            known_vars.update(node.set)
        if isinstance(node, BotNode):
            known_vars.update(node.slots)

    def check_prompt(path: PathKey, prompt: list[PromptItem], allowed: set[str]) -> None:
        for i, item in enumerate(prompt):
            for field in ("say", "file"):
                value = getattr(item, field)
                if value is not None:
                    check_text(data_path(path + (i, field), marks), field, value, allowed)

    def check_text(
        fpath: PathKey, field: str, value: str | dict[str, str], allowed: set[str]
    ) -> None:
        if isinstance(value, dict):
            for lang in value:
                if lang not in settings.languages:
                    problems.append(
                        Problem(
                            marks.key_at(fpath + (lang,)),
                            f"language {lang!r} is not in `languages`",
                            fpath + (lang,),
                        )
                    )
            missing = [lang for lang in settings.languages if lang not in value]
            if missing:
                problems.append(
                    Problem(
                        marks.at(fpath), f"no {field} text for language {', '.join(missing)}", fpath
                    )
                )
            texts = [(fpath + (lang,), v, lang) for lang, v in value.items()]
        else:
            texts = [(fpath, value, None)]
        for tpath, text, lang in texts:
            if field == "say":
                for name in _VAR_REF.findall(text):
                    if name not in allowed:
                        problems.append(
                            Problem(
                                marks.at(tpath),
                                f"unknown variable {{{name}}} in prompt text",
                                tpath,
                            )
                        )
            else:
                check_file(tpath, text, lang)

    def check_file(path: PathKey, name: str, lang: str | None) -> None:
        if Path(name).suffix.lstrip(".") in SOUND_EXTENSIONS:
            problems.append(
                Problem(
                    marks.at(path),
                    f"give the sound file name without extension: {Path(name).with_suffix('')}",
                    path,
                )
            )
            return
        if not sound_dirs:
            return
        langs = [lang] if lang else settings.languages
        for d in sound_dirs:
            for cand_dir in [Path(d) / lg for lg in langs] + [Path(d)]:
                if any((cand_dir / f"{name}.{ext}").is_file() for ext in SOUND_EXTENSIONS):
                    return
        problems.append(
            Problem(
                marks.at(path),
                f"sound file {name!r} not found in {', '.join(map(str, sound_dirs))}",
                path,
            )
        )

    if settings.greeting is not None:
        g: Greeting = settings.greeting
        for field in ("known", "unknown", "rating_notice"):
            value = getattr(g, field)
            if value is not None:
                allowed = known_vars if field == "known" else known_vars - {"caller_name"}
                check_prompt(("greeting", field), value, allowed)
    for node_id, node in nodes.items():
        for sub, prompt in prompt_fields(node):
            check_prompt(("nodes", node_id, *sub), prompt, known_vars)
        if isinstance(node, AnswerNode):
            for arg, text in node.args.items():
                for name in _VAR_REF.findall(text):
                    if name not in known_vars:
                        path = ("nodes", node_id, "args", arg)
                        problems.append(
                            Problem(marks.at(path), f"unknown variable {{{name}}}", path)
                        )
    queue_texts: list[tuple[PathKey, Any, tuple[frozenset[str], frozenset[str]]]] = []
    if settings.queue is not None:
        queue_texts += [(("queue", f), getattr(settings.queue, f), v)
                        for f, v in QUEUE_TEXT_VARIABLES.items()]
        if settings.queue.callback is not None:
            cb = settings.queue.callback
            queue_texts += [(("queue", "callback", f), getattr(cb, f), v)
                            for f, v in CALLBACK_TEXT_VARIABLES.items()]
            if cb.key == settings.operator_key:
                kpath: PathKey = ("queue", "callback", "key")
                problems.append(Problem(marks.at(kpath), "the callback key is the operator key",
                                        kpath))
    if queue_texts:
        for qpath, value, (allowed_vars, required) in queue_texts:
            if value is None:
                continue
            check_text(qpath, "say", value, set(allowed_vars))
            texts = value.items() if isinstance(value, dict) else [(None, value)]
            for lang, text in texts:
                tpath = qpath + ((lang,) if lang is not None else ())
                for name in sorted(required - set(_VAR_REF.findall(text))):
                    problems.append(Problem(marks.at(tpath), f"the text must use {{{name}}}", tpath))
    return problems


# ---------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """`hotline dialplan check FILE... [--sounds DIR]`: exit 1 if anything is wrong."""
    parser = argparse.ArgumentParser(
        prog="hotline dialplan check", description=__doc__.splitlines()[0]
    )
    parser.add_argument("files", nargs="+")
    parser.add_argument(
        "--sounds", action="append", default=[], help="directory with sound files (repeatable)"
    )
    args = parser.parse_args(argv)
    failed = False
    for file in args.files:
        problems = check_files([file], args.sounds)
        for p in problems:
            print(p)
        if problems:
            failed = True
        else:
            print(f"{file}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
