"""The admin YAML reader: positions, and the limits on what one file may cost.

Each bad input is sent for real; the reader must answer with a YamlFileError naming
file:line:col, never with another exception (RecursionError, MemoryError, ValueError) and
never by expanding what the text does not spell out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yaml import safe_load

from hotline.paths import PROJECT_ROOT
from hotline.yamlsrc import (
    DEFAULT_LIMITS,
    MAX_ALIAS_PROBLEMS,
    YamlFileError,
    YamlLimits,
    load_yaml,
    parse_yaml,
    read_text,
)
from tests.support.yaml_fuzz import yamlish

# The classic "billion laughs": nine levels of nine aliases each would expand to 9**9
# (387 million) strings from 330 bytes.
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def problems(text: str, limits: YamlLimits = DEFAULT_LIMITS) -> list[str]:
    with pytest.raises(YamlFileError) as info:
        parse_yaml(text, "f.yaml", limits)
    return [str(p) for p in info.value.problems]


def test_positions_of_values_and_keys() -> None:
    data, marks = parse_yaml("a:\n  b: [1, x]\n", "f.yaml")
    assert data == {"a": {"b": [1, "x"]}}
    assert str(marks.at(("a", "b", 1))) == "f.yaml:2:10"
    assert str(marks.key_at(("a", "b"))) == "f.yaml:2:3"


def test_billion_laughs_is_refused_at_its_first_anchors_without_expanding() -> None:
    found = problems(LAUGHS)
    assert found[0] == "f.yaml:1:4: anchors are not allowed here (&a): write the value out"
    assert "f.yaml:2:4: anchors are not allowed here (&b): write the value out" in found
    assert "f.yaml:2:8: aliases are not allowed here (*a): write the value out" in found
    assert len(found) == MAX_ALIAS_PROBLEMS  # 81 anchors and aliases, the first ten reported


def test_recursive_alias_is_refused() -> None:
    assert problems("a: &a [*a]\n") == [
        "f.yaml:1:4: anchors are not allowed here (&a): write the value out",
        "f.yaml:1:8: aliases are not allowed here (*a): write the value out",
    ]
    assert problems("a: &a {b: *a}\n")[1] == (
        "f.yaml:1:11: aliases are not allowed here (*a): write the value out")


def test_merge_key_through_an_alias_is_refused() -> None:
    text = "base: &base {timeout: 5}\nmenu:\n  <<: *base\n  retries: 2\n"
    assert problems(text) == [
        "f.yaml:1:7: anchors are not allowed here (&base): write the value out",
        "f.yaml:3:7: aliases are not allowed here (*base): write the value out",
    ]


def test_an_alias_to_an_unknown_anchor_is_refused_too() -> None:
    assert problems("a: *nowhere\n") == [
        "f.yaml:1:4: aliases are not allowed here (*nowhere): write the value out"]


def test_aliases_count_as_nodes() -> None:
    """A file of nothing but aliases still stops at the node limit, with ten problems
    listed and not one per alias."""
    text = "a: [" + ", ".join(["*x"] * 50) + "]\n"
    found = problems(text, YamlLimits(max_nodes=30))
    assert found[-1].endswith("too many YAML nodes: more than 30 keys, values and lists")
    assert len(found) == MAX_ALIAS_PROBLEMS + 1


def test_too_many_nodes() -> None:
    n = DEFAULT_LIMITS.max_nodes
    text = "x: [" + ",".join("a" for _ in range(n)) + "]\n"  # mapping, key, list, n items
    [found] = problems(text)
    # the item that crosses the limit: node n + 1 is the list's (n - 2)th item, at column
    # 5 + 2 * (n - 3)
    assert found == (f"f.yaml:1:{5 + 2 * (n - 3)}: too many YAML nodes: more than {n} "
                     "keys, values and lists")
    data, _ = parse_yaml("x: [" + ",".join("a" for _ in range(n - 3)) + "]\n", "f.yaml")
    assert len(data["x"]) == n - 3  # exactly at the limit is fine


def test_nested_too_deeply_is_a_problem_not_a_recursion_error() -> None:
    assert problems("[" * 5000 + "]" * 5000) == [
        f"f.yaml:1:{DEFAULT_LIMITS.max_depth + 1}: nested too deeply: more than "
        f"{DEFAULT_LIMITS.max_depth} levels"]
    deep = "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 10))
    # levels: the file's mapping, a's, k1's, k2's, k3's (starting at k4), then the key k4
    assert problems(deep, YamlLimits(max_depth=5)) == [
        "f.yaml:5:9: nested too deeply: more than 5 levels"]
    data, _ = parse_yaml("[" * DEFAULT_LIMITS.max_depth + "]" * DEFAULT_LIMITS.max_depth, "f")
    assert isinstance(data, list)


def test_too_large_counts_bytes_not_characters() -> None:
    limits = YamlLimits(max_bytes=100)
    assert parse_yaml("x: " + "a" * 96 + "\n", "f.yaml", limits)[0] == {"x": "a" * 96}
    text = "x: " + "é" * 49 + "\n"  # 53 characters, 102 bytes
    assert problems(text, limits) == ["f.yaml:1:1: file too large: more than 100 bytes"]
    assert problems("x: " + "a" * (DEFAULT_LIMITS.max_bytes)) == [
        f"f.yaml:1:1: file too large: more than {DEFAULT_LIMITS.max_bytes} bytes"]


def test_reading_a_file_stops_at_the_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("x: " + "a" * 1000 + "\n")
    with pytest.raises(YamlFileError) as info:
        load_yaml(big, YamlLimits(max_bytes=500))
    assert [str(p) for p in info.value.problems] == [
        f"{big}:1:1: file too large: more than 500 bytes"]
    assert load_yaml(big)[0] == {"x": "a" * 1000}


def test_a_file_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(YamlFileError) as info:
        read_text(bad)
    [p] = info.value.problems
    assert (p.position.line, p.position.column) == (2, 7) and "not UTF-8" in p.message
    with pytest.raises(YamlFileError, match="cannot read file"):
        read_text(tmp_path / "missing.yaml")


def test_a_character_yaml_forbids_names_its_position() -> None:
    assert problems("a: 1\nb: x\x00\n") == [
        "f.yaml:2:5: YAML error: special characters are not allowed #x0000"]
    assert problems("a: \ud800\n") == [
        "f.yaml:1:4: YAML error: special characters are not allowed #xd800"]


def test_values_that_cannot_be_built_are_problems_at_their_position() -> None:
    assert problems("a: 1\nday: 2025-02-30\n") == [
        "f.yaml:2:6: bad value: day is out of range for month"]
    [found] = problems("n: " + "9" * 5000 + "\n")
    assert found.startswith("f.yaml:1:4: bad value: Exceeds the limit (4300 digits)")
    assert problems("x: !!int abc\n2025-02-30: y\n") == [
        "f.yaml:1:4: bad value: invalid literal for int() with base 10: 'abc'",
        "f.yaml:2:1: bad value: day is out of range for month",  # once, as a key
    ]


def test_the_shipped_admin_files_are_well_within_the_limits() -> None:
    small = YamlLimits(
        max_bytes=DEFAULT_LIMITS.max_bytes // 20, max_nodes=DEFAULT_LIMITS.max_nodes // 20,
        max_depth=DEFAULT_LIMITS.max_depth // 4,
    )
    files = [PROJECT_ROOT / "dialplan" / "hotline.yaml", *sorted((PROJECT_ROOT / "config").glob("*.yaml"))]
    assert len(files) >= 4
    for f in files:
        data, _ = load_yaml(f, small)
        assert isinstance(data, dict), f


@pytest.mark.parametrize("text, found", [
    ("!!int", "f.yaml:1:1: bad value: '' cannot be read as !!int"),  # IndexError inside PyYAML
    ("a: !!bool x", "f.yaml:1:4: bad value: 'x' cannot be read as !!bool"),  # KeyError
    ("a:\n  b: !!timestamp 2020", "f.yaml:2:6: bad value: '2020' cannot be read as !!timestamp"),
    ("? !!float\n: 1", "f.yaml:1:3: bad value: '' cannot be read as !!float"),
])
def test_tagged_values_pyyaml_cannot_build_are_bad_values(text: str, found: str) -> None:
    """Found by the fuzz test below: PyYAML's constructors raise IndexError, KeyError and
    AttributeError on these."""
    assert problems(text) == [found]


# ---------------------------------------------------------------- fuzzing the reader


def _plain(value: object) -> object:
    """PyYAML's own result as the reader gives it: keys as strings, NaN comparable."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return "nan"
    return value


@settings(max_examples=300, deadline=2000, database=None)
@given(st.one_of(yamlish, st.text(max_size=200)))
def test_fuzz_the_reader_gives_data_or_positioned_problems(text: str) -> None:
    limits = YamlLimits(max_bytes=4096, max_nodes=200, max_depth=16)
    try:
        data, marks = parse_yaml(text, "fuzz.yaml", limits)
    except YamlFileError as exc:
        assert exc.problems
        last_line = len(text.splitlines()) + 1
        for p in exc.problems:
            assert p.position.file == "fuzz.yaml" and p.message, p
            assert 1 <= p.position.line <= last_line and p.position.column >= 1, p
        return
    # read: the same data as PyYAML reads (the reader only refuses more), and a position for
    # every value
    if "!" not in text:  # explicit tags (!!set, !!omap, ...) are read as plain mappings/lists
        assert _plain(data) == _plain(safe_load(text))
    for pos in [*marks.positions.values(), *marks.key_positions.values()]:
        assert pos.line >= 1 and pos.column >= 1
