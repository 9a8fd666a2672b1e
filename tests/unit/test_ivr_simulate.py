"""Terminal simulator, fed from a StringIO."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from ivr.check import load_dialplan
from ivr.machine import BotFinished, CallerInfo
from ivr.simulate import run

HOTLINE = Path(__file__).resolve().parents[2] / "dialplan" / "hotline.yaml"
TUESDAY_NOON = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
TUESDAY_NIGHT = datetime(2025, 3, 4, 20, 0, tzinfo=UTC)


def simulate(keys: str, **kw):
    out = io.StringIO()
    state = run(
        load_dialplan(HOTLINE), io.StringIO(keys), out, now=kw.pop("now", TUESDAY_NOON), **kw
    )
    return state, out.getvalue()


def heard(transcript: str) -> list[str]:
    return [
        line.removeprefix("[hears] ")
        for line in transcript.splitlines()
        if line.startswith("[hears]")
    ]


def test_ticket_check_then_goodbye():
    state, out = simulate("1\n1\n123456#\n9\n")
    lines = heard(out)
    assert lines[0] == "Welcome to the Lucky Star lottery hotline."
    assert lines[1] == "After the call you will be asked to rate it from one to five."
    assert "One moment, checking ticket 123456." in lines
    assert "[lookup ticket_status ticket=123456]" in lines
    assert lines[-1] == "Thank you for calling. Good luck!"
    assert state.outcome == "hangup" and out.endswith("[end] hangup\n")


def test_known_caller_russian_and_bot_to_operator():
    caller = CallerInfo(number="+7901", name="Анна", known=True, language="ru")
    state, out = simulate("5\nпозовите оператора\n", caller=caller)  # not asked her language
    assert heard(out)[0].startswith("Здравствуйте, Анна!")
    assert not any("For English" in line for line in heard(out))
    assert ("choose_language", "language ru known (directory), not asked") in [
        (s.node, s.detail) for s in state.path]
    assert "[bot] topic=general language=ru" in out
    assert "[transfer] reason=caller_request, via=bot, intent=operator, language=ru" in out
    assert state.outcome == "transferred"


def test_bot_answers_and_lookup_callback():
    calls = []

    def bot(words, request):
        calls.append((words, request.topic))
        return "the next draw is on Sunday", BotFinished("done", "next_draw")

    state, out = simulate("1\n5\nwhen is the draw\n9\n", bot=bot)
    assert calls == [("when is the draw", "general")]
    assert (
        "the next draw is on Sunday" in heard(out) and state.variables["bot_intent"] == "next_draw"
    )


def test_after_hours_and_timeouts():
    state, out = simulate("1\n\n\n", now=TUESDAY_NIGHT)
    assert any(line.startswith("Our operators work") for line in heard(out))
    assert heard(out)[-1] == "Thank you for calling. Good luck!"
    assert "no input, retries exhausted" in [s.detail for s in state.path]


def test_vip_short_path_and_transfer_failure():
    state, out = simulate(
        "1\n1\n9\n", caller=CallerInfo(number="+7", vip=True), transfer=lambda t: "failed"
    )
    assert "Connecting you to your manager." in heard(out)
    assert "[transfer] reason=vip, via=key 1, category=vip, vip=True, language=en" in out
    assert heard(out)[-2].startswith("All operators are busy.")
    assert state.outcome == "hangup"


def test_end_of_input_hangs_up():
    state, out = simulate("1\n")
    assert state.outcome == "caller_hangup"
    assert [s.node for s in state.path][-1] == "(caller hung up)"


def test_lookup_callback_and_file_prompts(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text(
        "version: 1\nname: p\ntimezone: UTC\nlanguages: [en]\nvoice: v\nstart: a\n"
        "nodes:\n"
        "  a: {type: answer, query: next_draw, prompt: {file: one-moment}, next: b}\n"
        "  b: {type: hangup}\n"
        "  operator: {type: operator}\n"
    )
    out = io.StringIO()
    dp = load_dialplan(plan)
    # operator is reachable only implicitly via the answer node's failure path
    state = run(
        dp, io.StringIO(""), out, lookup=lambda q: f"draw at 20:00 ({q.query})", now=TUESDAY_NOON
    )
    assert heard(out.getvalue()) == ["<file one-moment>", "draw at 20:00 (next_draw)"]
    assert state.outcome == "hangup"
