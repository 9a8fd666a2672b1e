"""The dialplan's `queue.callback`: checked with file:line errors, worded in the caller's
language, turned into the service's callback settings (business hours included)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

from hotline.app.wiring import callback_config
from ivr.check import parse_dialplan
from ivr.waiting import callback_text, spoken_number

QUEUE = """\
version: 1
name: t
timezone: Europe/Moscow
languages: [en, ru]
voice: v
start: operator
business_hours:
  mon-fri: "09:00-18:00"
queue:
  position: "You are number {position} in the queue."
  wait: "The expected wait is {wait}."
  less_than_a_minute: "less than a minute"
  one_minute: "about one minute"
  minutes: "about {minutes} minutes"
  callback:
%s
nodes:
  operator:
    type: operator
"""
GOOD = """\
    key: 1
    offer: "Press 1 to be called back."
    confirm: {en: "We will call you back on {number}. Press 1.", ru: "Перезвоним на {number}."}
    goodbye: "Goodbye."
    attempts: 2
    retry_after: 60"""


def parse(callback: str):  # type: ignore[no-untyped-def]
    return parse_dialplan(textwrap.dedent(QUEUE % callback), "q.yaml", ())


def test_a_good_callback_section_loads_and_configures_the_desk() -> None:
    dp, problems = parse(GOOD)
    assert not problems and dp is not None and dp.queue is not None
    cb = dp.queue.callback
    assert cb is not None and (cb.key, cb.attempts, cb.retry_after, cb.ring_caller) == ("1", 2, 60, 30)
    assert callback_text(cb, "confirm", "+79161234567", "ru", "en") == "Перезвоним на 7 9 1 6 1 2 3 4 5 6 7."
    assert spoken_number("+7 (916)") == "7 9 1 6"
    cfg = callback_config(dp)
    assert (cfg.attempts, cfg.retry_after_s, cfg.ring_caller_s) == (2, 60.0, 30)
    assert cfg.hours is not None
    assert cfg.hours.is_open(datetime(2026, 12, 2, 7, 0, tzinfo=UTC))  # Wed 10:00 Moscow
    assert not cfg.hours.is_open(datetime(2026, 12, 6, 7, 0, tzinfo=UTC))  # Sunday
    anytime, _ = parse(GOOD + "\n    business_hours_only: false")
    assert callback_config(anytime).hours is None
    assert callback_config(None).attempts == 3


def test_callback_mistakes_are_reported_with_file_and_line() -> None:
    bad = """\
    key: 0
    offer: "Press 1."
    confirm: "We will call you back."
    goodbye: "Bye {nr}."
    attempts: 2"""
    dp, problems = parse(bad)
    assert dp is None
    found = {(p.position.line, p.message) for p in problems}
    assert (16, "the callback key is the operator key") in {(line, m.split(" (at")[0]) for line, m in found}
    assert any(line == 18 and "must use {number}" in m for line, m in found), found
    assert any(line == 19 and "unknown variable {nr}" in m for line, m in found), found
    assert all(str(p).startswith("q.yaml:") for p in problems)


def test_out_of_range_settings_are_refused() -> None:
    _, problems = parse(GOOD + "\n    ring_caller: 500")
    assert any("ring_caller" in str(p) and "q.yaml:" in str(p) for p in problems), problems
