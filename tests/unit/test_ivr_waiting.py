"""The dialplan's `queue:` section: the words a waiting caller hears, and its checks."""

from __future__ import annotations

import io
import textwrap

from callrouting.events import WaitEstimate
from ivr.check import parse_dialplan
from ivr.machine import CallerInfo
from ivr.simulate import QueueScene, run
from ivr.waiting import announcement

DIALPLAN = """\
version: 1
name: t
timezone: Europe/Moscow
languages: [en, ru]
voice: v
start: operator
queue:
  announce_every: 20
  position: {en: "You are number {position} in the queue.", ru: "Ваш номер в очереди: {position}."}
  vip: {en: "You will be connected first.", ru: "Вас соединят в первую очередь."}
  wait: {en: "The expected wait is {wait}.", ru: "Ожидание: {wait}."}
  less_than_a_minute: {en: "less than a minute", ru: "меньше минуты"}
  one_minute: {en: "about one minute", ru: "около минуты"}
  minutes: {en: "about {minutes} minutes", ru: "около {minutes} минут"}
  overflow: {after: 60, ring: team_leads}
  wrapup: 15
nodes:
  operator:
    type: operator
"""


def load(text: str = DIALPLAN):
    dp, found = parse_dialplan(textwrap.dedent(text), "t.yaml")
    return dp, [(p.position.line, p.message) for p in found]


def test_queue_section_loads():
    dp, found = load()
    assert found == [] and dp is not None and dp.queue is not None
    assert dp.queue.announce_every == 20 and dp.queue.wrapup == 15
    assert dp.queue.overflow is not None and dp.queue.overflow.after == 60


def est(position: int, minutes: int | None, known: bool = True, vip: bool = False) -> WaitEstimate:
    return WaitEstimate(position, 3, known, None if minutes is None else minutes * 60.0, minutes, vip)


def test_announcement_words_each_case_in_the_callers_language():
    dp, _ = load()
    q = dp.queue
    assert announcement(q, est(1, None), "en", "en") == (
        "You are number 1 in the queue. The expected wait is less than a minute.")
    assert announcement(q, est(2, 1), "en", "en").endswith("about one minute.")
    assert announcement(q, est(3, 5), "ru", "en") == "Ваш номер в очереди: 3. Ожидание: около 5 минут."
    assert announcement(q, est(1, None, vip=True), "en", "en").startswith(
        "You will be connected first. You are number 1")
    # no estimate and no `no_estimate` text: only the place
    assert announcement(q, est(2, None, known=False), "en", "en") == "You are number 2 in the queue."


def test_queue_text_errors_have_their_line():
    text = DIALPLAN.replace('wait: {en: "The expected wait is {wait}.", ru: "Ожидание: {wait}."}',
                            'wait: {en: "The expected wait is soon.", ru: "Ожидание: {wait}."}')
    text = text.replace('less_than_a_minute: {en: "less than a minute", ru: "меньше минуты"}',
                        'less_than_a_minute: {en: "less than a minute"}')
    text = text.replace("{position} in the queue.", "{place} in the queue.")
    _, found = load(text)
    assert (9, "unknown variable {place} in prompt text") in found
    assert (11, "the text must use {wait}") in found
    assert (12, "no say text for language ru") in found


def test_queue_value_errors_have_their_line():
    text = DIALPLAN.replace("announce_every: 20", "announce_every: 2").replace(
        "overflow: {after: 60, ring: team_leads}", "overflow: {after: 60}")
    _, found = load(text)
    lines = {line for line, _ in found}
    assert 8 in lines and 15 in lines, found
    assert any("exactly one of `ring: team_leads` or `team`" in m for _, m in found)


def test_simulator_shows_what_a_waiting_caller_hears():
    dp, _ = load()
    out = io.StringIO()
    run(dp, io.StringIO(""), out, caller=CallerInfo(number="+7000", vip=True),
        scene=QueueScene(position=2, free=0, busy=2))
    text = out.getvalue()
    assert "[queue] music=default, announcements every 20 s, wrap-up 15 s" in text
    assert "[queue] after 60 s of waiting the team leads ring too" in text
    # place 2, nobody free, 2 busy, no history: 2 * (180 + 15) / 2 = 195 s -> about 3 minutes
    assert ("[hears] You will be connected first. You are number 2 in the queue. "
            "The expected wait is about 3 minutes.") in text
