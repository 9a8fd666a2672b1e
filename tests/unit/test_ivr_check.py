"""Dialplan checker: every error class, each with its exact line."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.check import DialplanError, check_files, load_dialplan, main, parse_dialplan
from ivr.model import Dialplan
from ivr.schema import SCHEMA_PATH, schema_text
from tests.support.yaml_fuzz import DIALPLAN_WORDS, yamlish

FIXTURES = Path(__file__).parent / "ivr_fixtures"
ROOT = Path(__file__).resolve().parents[2]

BASE = """\
version: 1
name: t
timezone: Europe/Moscow
languages: [en]
voice: v
start: main
nodes:
  main:
    type: menu
    prompt: Press 1.
    options:
      1: bye
      0: operator
  bye:
    type: hangup
  operator:
    type: operator
"""


def problems(text: str, sound_dirs=()) -> list[tuple[int, str]]:
    dialplan, found = parse_dialplan(textwrap.dedent(text), "t.yaml", sound_dirs)
    assert (dialplan is None) == bool(found)
    return [(p.position.line, p.message) for p in found]


def with_nodes(extra: str) -> str:
    return BASE + textwrap.indent(textwrap.dedent(extra), "  ")


def test_base_is_valid():
    assert problems(BASE) == []


def test_demo_hotline_is_valid():
    dp = load_dialplan(ROOT / "dialplan" / "hotline.yaml")
    assert dp.start == "choose_language"
    assert dp.version_id.startswith("lottery-hotline@1#")
    assert check_files([ROOT / "dialplan" / "hotline.yaml"]) == []


def test_schema_file_is_up_to_date():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "run: .venv/bin/python -m ivr.schema"
    )


def test_yaml_syntax_error_line():
    text = BASE.replace("    prompt: Press 1.", "    prompt: [Press 1.")
    [(line, msg)] = problems(text)
    assert line == 11 and "YAML syntax error" in msg


def test_duplicate_key_number_and_string():
    text = BASE.replace("      0: operator", '      0: operator\n      "1": bye')
    assert problems(text) == [(14, "duplicate key '1'")]


def test_unknown_key():
    text = BASE.replace("    prompt: Press 1.", "    prompt: Press 1.\n    timout: 5")
    assert problems(text) == [(11, "unknown key 'timout'")]


def test_unknown_top_level_key():
    assert problems("colour: red\n" + BASE) == [(1, "unknown key 'colour'")]


def test_wrong_type():
    text = BASE.replace("    prompt: Press 1.", "    prompt: Press 1.\n    retries: many")
    [(line, msg)] = problems(text)
    assert line == 11 and "integer" in msg


def test_unknown_node_type():
    text = BASE.replace("    type: hangup", "    type: hangup_now")
    [(line, msg)] = problems(text)
    assert line == 15 and "hangup_now" in msg


def test_missing_destination():
    text = BASE.replace("      1: bye", "      1: by")
    found = problems(text)
    assert (12, "no node named 'by'") in found
    assert (14, "node 'bye' cannot be reached from start") in found


def test_missing_start():
    assert problems(BASE.replace("start: main", "start: mian")) == [
        (6, "start node 'mian' does not exist")
    ]


def test_unreachable_node():
    text = with_nodes("""\
        orphan:
          type: hangup
    """)
    assert problems(text) == [(18, "node 'orphan' cannot be reached from start")]


def test_loop_without_input():
    text = BASE.replace("      1: bye", "      1: a") + textwrap.indent(
        textwrap.dedent("""\
            a:
              type: play
              prompt: Hello
              next: b
            b:
              type: goto
              to: a
        """),
        "  ",
    )
    found = problems(text)
    assert (14, "node 'bye' cannot be reached from start") in found
    assert (18, "loop without any caller input: a -> b -> a") in found


def test_loop_through_menu_is_fine():
    text = BASE.replace("      1: bye", "      1: a").replace("  bye:\n    type: hangup\n", "")
    text += "  a:\n    type: play\n    prompt: Hello\n    next: main\n"
    assert problems(text) == []


def test_missing_sound_file():
    text = BASE.replace(
        "    prompt: Press 1.", "    prompt:\n      - file: welcome\n      - file: menu-main"
    )
    found = problems(text, [FIXTURES / "sounds"])
    assert [(line, msg.split(" not found")[0]) for line, msg in found] == [
        (12, "sound file 'menu-main'")
    ]
    assert problems(text) == []  # no sound dirs: not checked


def test_sound_file_with_extension():
    text = BASE.replace("    prompt: Press 1.", "    prompt: {file: welcome.wav}")
    assert problems(text) == [(10, "give the sound file name without extension: welcome")]


def test_menu_without_operator_exit():
    text = BASE.replace("    prompt: Press 1.", "    prompt: Press 1.\n    operator_exit: false")
    [(line, msg)] = problems(text)
    assert line == 11 and msg.startswith("operator_exit is off")


def test_operator_key_remapped():
    text = BASE.replace("      0: operator", "      0: bye")
    [(line, msg)] = problems(text)
    assert line == 13 and "operator key '0' must lead to an operator node" in msg


def test_operator_exit_exception_allows_it():
    text = BASE.replace(
        "      0: operator",
        "      0: bye\n    operator_exit: false\n    operator_exit_exception: legal notice first",
    )
    assert problems(text) == []


def test_operator_node_missing():
    text = BASE.replace("  operator:\n    type: operator\n", "")
    found = problems(text)
    assert (13, "no node named 'operator'") in found
    assert any(msg.startswith("operator node 'operator' does not exist") for _, msg in found)


def test_operator_node_wrong_type():
    text = BASE.replace("    type: operator", "    type: hangup")
    assert [line for line, _ in problems(text)] == [13, 17]
    assert problems(text)[1] == (17, "operator node 'operator' must have type operator")


def test_bad_timezone():
    text = BASE.replace("Europe/Moscow", "Europe/Mosow")
    [(line, msg)] = problems(text)
    assert line == 3 and "unknown time zone 'Europe/Mosow'" in msg


@pytest.mark.parametrize(
    "hours, fragment",
    [
        ('  mon-fry: "09:00-18:00"', "weekday must be"),
        ('  fri-mon: "09:00-18:00"', "runs backwards"),
        ('  mon: "9-18"', "time range must look like"),
        ('  mon: "18:00-09:00"', "ends before it starts"),
        ('  mon: "09:00-25:00"', "no such time"),
        ('  mon: ["09:00-13:00", "12:00-18:00"]', "overlap"),
    ],
)
def test_bad_business_hours(hours, fragment):
    text = BASE.replace("start: main", "start: main\nbusiness_hours:\n" + hours)
    [(line, msg)] = problems(text)
    assert line == 8 and fragment in msg


def test_weekday_listed_twice():
    text = BASE.replace(
        "start: main", 'start: main\nbusiness_hours:\n  mon-fri: "09:00-18:00"\n  fri: closed'
    )
    assert problems(text) == [(9, "weekday also covered by 'mon-fri'")]


@pytest.mark.parametrize("day, fragment", [("2025-02-30", "bad value"), ("13-45", "holiday")])
def test_bad_holiday(day, fragment):
    text = BASE.replace("start: main", f"start: main\nholidays:\n  - {day}")
    [(line, msg)] = problems(text)
    assert line == 8 and fragment in msg


def test_bad_menu_key():
    text = BASE.replace("      1: bye", "      12: bye")
    [(line, msg)] = problems(text)
    assert line == 12 and "a key must be one of 0-9" in msg


def test_collect_lengths_and_terminator():
    text = BASE.replace("      1: bye", "      1: c") + textwrap.indent(
        textwrap.dedent("""\
            c:
              type: collect
              prompt: Enter
              into: ticket
              min_digits: 8
              max_digits: 6
              terminator: "x"
              next: bye
        """),
        "  ",
    )
    [(line, msg)] = problems(text)
    assert line == 19 and "min_digits is larger" in msg


def test_missing_language_text_and_unknown_language():
    text = BASE.replace("languages: [en]", "languages: [en, ru]").replace(
        "    prompt: Press 1.", "    prompt:\n      en: Press 1.\n      de: Drücken"
    )
    assert sorted(problems(text)) == [
        (11, "no say text for language ru"),
        (12, "language 'de' is not in `languages`"),
    ]


def test_unknown_variable_in_prompt():
    text = BASE.replace("    prompt: Press 1.", "    prompt: Ticket {tiket}, press 1.")
    assert problems(text) == [(10, "unknown variable {tiket} in prompt text")]


def test_caller_name_only_in_known_greeting():
    text = BASE.replace(
        "start: main",
        "start: main\ngreeting:\n  known: Hi {caller_name}\n  unknown: Hi {caller_name}\n"
        "  rating_notice: You will rate the call.",
    )
    assert problems(text) == [(9, "unknown variable {caller_name} in prompt text")]


def test_greeting_requires_rating_notice():
    text = BASE.replace("start: main", "start: main\ngreeting:\n  unknown: Hi")
    assert problems(text) == [(8, "missing required key 'rating_notice'")]


def test_every_problem_is_reported():
    text = (
        BASE.replace("Europe/Moscow", "Mars/Base")
        .replace("      1: bye", "      1: nowhere")
        .replace("    type: hangup", "    type: hangup\n    colour: red")
    )
    lines = [line for line, _ in problems(text)]
    assert lines == [3, 12, 16]


def test_load_dialplan_raises_with_all_problems(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace("      1: bye", "      1: by").replace("v\n", "v\nfoo: 1\n"))
    with pytest.raises(DialplanError) as err:
        load_dialplan(path)
    text = str(err.value)
    assert f"{path}:6:1: unknown key 'foo'" in text
    assert f"{path}:13:10: no node named 'by' (at nodes -> main -> options -> 1)" in text


def test_main_exit_codes(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("start: main", "start: x"))
    assert main([str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: ok\n"
    assert main([str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{good}: ok" in out and f"{bad}:6:8: start node 'x' does not exist" in out


def test_unreadable_file(tmp_path):
    [p] = check_files([tmp_path / "missing.yaml"])
    assert "cannot read file" in p.message


def test_yaml_aliases_are_refused_with_their_line():
    text = BASE.replace("      1: bye", "      1: &to_bye bye\n      2: *to_bye")
    assert problems(text) == [
        (12, "anchors are not allowed here (&to_bye): write the value out"),
        (13, "aliases are not allowed here (*to_bye): write the value out"),
    ]
    recursive = BASE.replace("name: t", "name: &n [*n]")
    assert problems(recursive) == [
        (2, "anchors are not allowed here (&n): write the value out"),
        (2, "aliases are not allowed here (*n): write the value out"),
    ]


@pytest.mark.parametrize("pattern, reason", [
    ("[0-9", "missing ]: [0-9"),
    (r"^(\\d)\\1$", "invalid escape sequence: \\1; RE2 has no look-around, atomic groups or "
                    "backreferences"),  # Python's re compiles these two
    ("^9(?!0)", "invalid perl operator: (?!; RE2 has no look-around, atomic groups or "
                "backreferences"),
    (r"^\\d+\\Z", "invalid escape sequence: \\Z; RE2 writes the end of the text as \\z"),
    ("a{1001}", "invalid repetition size: {1001}"),
])
def test_a_pattern_re2_cannot_compile_is_an_error_at_its_line(pattern, reason):
    text = BASE.replace("      1: bye", "      1: c") + textwrap.indent(textwrap.dedent(f"""\
        c:
          type: condition
          when:
            - variable: caller_number
              matches: "{pattern}"
              goto: bye
          else: bye
        """), "  ")
    as_read = pattern.replace("\\\\", "\\")  # as the YAML double-quoted string reads
    assert problems(text) == [(22, f"Value error, bad regular expression: {reason} (got {as_read!r})")]


# ---------------------------------------------------------------- fuzzing the loader
#
# Whatever the text (a file an admin saved, an upload), the loader answers with a valid plan
# or with problems that each have a position in the file, never with another exception.


DEMO_TEXT = (ROOT / "dialplan" / "hotline.yaml").read_text(encoding="utf-8")
FUZZ = settings(max_examples=120, deadline=2000, database=None,
                suppress_health_check=[HealthCheck.too_slow])

some_text = st.one_of(st.text(max_size=300), yamlish)


@st.composite
def mutated_demo(draw: st.DrawFn) -> str:
    """The demo dialplan with a few lines deleted, repeated, cut, or given another value."""
    lines = DEMO_TEXT.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "repeat", "cut", "value", "insert"]))
        if op == "delete":
            del lines[i]
        elif op == "repeat":
            lines.insert(i, lines[i])
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, max(0, len(lines[i]) - 1)))]
        elif op == "value" and ": " in lines[i]:
            head = lines[i].split(": ", 1)[0]
            lines[i] = f"{head}: {draw(yamlish)}\n"
        else:
            lines.insert(i, draw(yamlish) + "\n")
        if not lines:
            break
    return "".join(lines)


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 100), st.floats(allow_nan=True),
    st.sampled_from(["menu", "collect", "condition", "operator", "hangup", "play", "goto", "set",
                     "language", "bot", "answer", "main", "bye", "en", "UTC", "(a+)+$", "[",
                     "09:00-18:00", "mon-fri", "{caller_name}", "0", "1", "*"]),
    st.text(max_size=8),
)
keys = st.one_of(st.sampled_from(DIALPLAN_WORDS), st.text(max_size=6))
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20)


def _paths(data: object, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, path + (i,))
    return out


@st.composite
def reshaped_plan(draw: st.DrawFn) -> str:
    """A valid plan with one to three of its values (or whole subtrees) replaced by random
    data, written back as YAML: reaches the node checks and the whole-file rules."""
    data = yaml.safe_load(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        new = draw(values)
        if not path:
            data = new
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = new
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _assert_answered(text: str, plan: Dialplan | None, found: list, file: str) -> None:
    if plan is not None:
        assert found == [] and isinstance(plan, Dialplan)
        return
    assert found, "no plan and no problem"
    last_line = len(text.splitlines()) + 1
    for p in found:
        assert p.position.file == file, p
        assert 1 <= p.position.line <= last_line and p.position.column >= 1, p
        assert p.message, p


def _load_answers(text: str) -> None:
    plan, found = parse_dialplan(text, "fuzz.yaml")  # the upload path
    _assert_answered(text, plan, found, "fuzz.yaml")
    with tempfile.TemporaryDirectory() as d:  # the file path (bytes as given: maybe not UTF-8)
        path = os.path.join(d, "hotline.yaml")
        with open(path, "wb") as f:
            f.write(text.encode("utf-8", "surrogatepass"))
        try:
            loaded = load_dialplan(path)
        except DialplanError as exc:
            _assert_answered(text, None, exc.problems, path)
        else:
            assert plan is not None and loaded.version_id == plan.version_id


@FUZZ
@given(some_text)
def test_fuzz_any_text_gives_a_plan_or_positioned_problems(text: str) -> None:
    _load_answers(text)


@FUZZ
@given(mutated_demo())
def test_fuzz_a_mutated_demo_gives_a_plan_or_positioned_problems(text: str) -> None:
    _load_answers(text)


@FUZZ
@given(reshaped_plan())
def test_fuzz_a_reshaped_plan_gives_a_plan_or_positioned_problems(text: str) -> None:
    _load_answers(text)


LANG_BASE = """\
version: 1
name: t
timezone: Europe/Moscow
languages: [en, ru]
voice: v
start: lang
nodes:
  lang:
    type: language
    prompt: {en: "1 English, 2 Russian.", ru: "1 English, 2 Russian."}
    options: {1: en, 2: ru}
    skip_when_known: true
    next: main
  main:
    type: menu
    prompt: {en: Press 1., ru: Нажмите 1.}
    options:
      1: bye
  bye:
    type: hangup
  operator:
    type: operator
"""


def test_skip_when_known_language_node_is_valid():
    dp, found = parse_dialplan(LANG_BASE, "t.yaml")
    assert found == [] and dp is not None and dp.nodes["lang"].skip_when_known  # type: ignore[union-attr]


def test_skip_when_known_must_be_a_boolean_at_its_line():
    text = LANG_BASE.replace("skip_when_known: true", "skip_when_known: sometimes")
    assert problems(text) == [
        (12, "Input should be a valid boolean, unable to interpret input (got 'sometimes')")
    ]


def test_loop_through_a_skipping_language_node_is_reported():
    """A known caller would pass the language node without being asked, round and round."""
    text = LANG_BASE.replace("    next: main\n", "    next: again\n", 1) + (
        "  again:\n    type: goto\n    to: lang\n"
    )
    found = problems(text)
    assert (8, "loop without any caller input: lang -> again -> lang") in found
    asked = text.replace("    skip_when_known: true\n", "")  # the node asks everyone: it waits
    assert not any("loop" in msg for _, msg in problems(asked))
