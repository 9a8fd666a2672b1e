"""Hypothesis strategies for admin YAML: pieces of YAML syntax and of the dialplan language,
and values that have broken YAML readers (used by the reader's and the dialplan loader's
fuzz tests)."""

from __future__ import annotations

from hypothesis import strategies as st

SYNTAX = [
    "\n", "  ", "    ", "- ", ": ", ":", ",", "[", "]", "{", "}", "? ", "|", ">-", "#", "'", '"',
    "&a ", "*a", "&b [*b]", "<<: ", "<<: *a", "!!int ", "!!int", "!!str ", "!!binary ",
    "!!set ", "!!omap ", "!!timestamp ", "!!bool ", "!!float", "!!python/object:os.system ",
    "!x ", "---\n", "...\n", "%YAML 1.1\n", "%TAG !e! tag:e,2000:\n", "\t", "\r", "\r\n",
    "\x85", "\u2028", "\ufeff", "\x00", "\x07", "\ud800", "é", "Ж", "😀", "~", "null", "true",
    "no", "0", "01", "0x1F", "0o17", "1e999", ".nan", "-.inf", "2025-02-30",
    "2025-01-01 25:00:00", "12:30:61", "9" * 5000, "[" * 200, "{a: " * 100,
]
DIALPLAN_WORDS = [
    "nodes", "type", "menu", "collect", "condition", "operator", "hangup", "options", "prompt",
    "next", "goto", "when", "variable", "matches", "(a+)+$", "(?=x)", "[0-9", "start",
    "languages", "en", "main", "bye", "{caller_name}", "{nope}", "min_digits", "max_digits",
    "business_hours", "holidays", "mon-fri", "09:00-18:00", "greeting", "rating",
    "operator_key", "operator_node",
]
TOKENS = SYNTAX + DIALPLAN_WORDS

yamlish = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=6)), max_size=80).map(
    "".join)
