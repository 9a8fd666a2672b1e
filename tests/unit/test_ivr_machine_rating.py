"""The post-call rating in the pure IVR machine: `rating:` in the dialplan, driven by events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from ivr.check import parse_dialplan
from ivr.machine import (
    CallerHungUp,
    CallerInfo,
    CallState,
    GetDigits,
    Hangup,
    Input,
    MachineError,
    Play,
    RecordPath,
    SaveRating,
    Timeout,
    Transfer,
    TransferResult,
    start,
    step,
)
from ivr.model import Dialplan, Rating

NOW = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # a Wednesday, 12:00 in Moscow

PLAN = """\
version: 1
name: rate
timezone: Europe/Moscow
languages: [en, ru]
voice: amy
start: main
greeting:
  unknown: "Hello."
  rating_notice: "You will rate this call."
rating:
  ask: {en: "Rate us 1 to 5.", ru: "Оцените от 1 до 5."}
  retry: {en: "One key from 1 to 5, please.", ru: "Одну клавишу от 1 до 5."}
  thanks: {en: "Thank you.", ru: "Спасибо."}
  keys: "12345"
  timeout: 4
  retries: 1
nodes:
  main:
    type: menu
    prompt: "Press 0 for an operator."
    options: {1: operator}
  operator:
    type: operator
    reason: caller_request
    record: false
"""


def dialplan(text: str = PLAN) -> Dialplan:
    dp, problems = parse_dialplan(text, "rate.yaml")
    assert dp is not None, problems
    return dp


@pytest.fixture
def dp() -> Dialplan:
    return dialplan()


def actions(effects: list) -> list:  # type: ignore[type-arg]
    return [e for e in effects if not isinstance(e, RecordPath)]


def texts(effect: Play | GetDigits) -> list[str | None]:
    return [p.text for p in effect.prompts]


def answered(dp: Dialplan, language: str | None = None) -> tuple[CallState, list]:  # type: ignore[type-arg]
    state, _ = start(dp, CallerInfo("+79990001122"), NOW, language)
    state, effects = step(dp, state, Input("0"), NOW)
    assert isinstance(actions(effects)[-1], Transfer)
    return step(dp, state, TransferResult("answered"), NOW)


def test_answered_transfer_asks_for_the_rating(dp: Dialplan) -> None:
    state, effects = answered(dp)
    (ask,) = actions(effects)
    assert ask == GetDigits(ask.prompts, 1, 1, 4.0, None)
    assert texts(ask) == ["Rate us 1 to 5."]
    assert state.awaiting == "rating" and not state.finished
    assert [s.node for s in state.path][-1] == "(transfer answered)"


def test_rating_speaks_the_callers_language(dp: Dialplan) -> None:
    _, effects = answered(dp, language="ru")
    assert texts(actions(effects)[0]) == ["Оцените от 1 до 5."]


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"])
def test_a_key_rates_the_call(dp: Dialplan, key: str) -> None:
    state, _ = answered(dp)
    state, effects = step(dp, state, Input(key), NOW)
    save, thanks, hangup = actions(effects)
    assert save == SaveRating(int(key), 1, "rated")
    assert isinstance(thanks, Play) and texts(thanks) == ["Thank you."]
    assert hangup == Hangup("rated") and not hangup.rate_first
    assert state.finished and state.outcome == "transferred"
    assert (state.path[-1].node, state.path[-1].detail) == ("(rating)", f"rated {key}")


@pytest.mark.parametrize("first", [Input("9"), Input("0"), Input("*"), Input(None), Input(""),
                                   Timeout()])
def test_one_retry_then_a_valid_key(dp: Dialplan, first: Input | Timeout) -> None:
    state, _ = answered(dp)
    state, effects = step(dp, state, first, NOW)
    (retry,) = actions(effects)
    assert isinstance(retry, GetDigits) and texts(retry) == ["One key from 1 to 5, please."]
    assert state.awaiting == "rating" and state.attempts == 1
    state, effects = step(dp, state, Input("4"), NOW)
    assert actions(effects)[0] == SaveRating(4, 2, "rated")
    assert state.finished


@pytest.mark.parametrize(
    "events, reason, details",
    [
        ([Input(None), Input(None)], "no_input", ["no input, retry 1", "no input, not rated"]),
        ([Timeout(), Input("7")], "invalid", ["no input, retry 1", "invalid input '7', not rated"]),
        ([Input("6"), Input(None)], "no_input", ["invalid input '6', retry 1", "no input, not rated"]),
    ],
)
def test_twice_no_or_bad_key_is_no_rating(dp: Dialplan, events: list, reason: str,  # type: ignore[type-arg]
                                          details: list[str]) -> None:
    state, _ = answered(dp)
    for event in events:
        state, effects = step(dp, state, event, NOW)
    save, thanks, hangup = actions(effects)
    assert save == SaveRating(None, 2, reason)
    assert isinstance(thanks, Play) and hangup == Hangup("not_rated")
    assert state.finished and state.outcome == "transferred"
    assert [s.detail for s in state.path if s.node == "(rating)"] == details


@pytest.mark.parametrize("before", [[], [Input(None)]])
def test_hang_up_while_asked_is_no_rating(dp: Dialplan, before: list) -> None:  # type: ignore[type-arg]
    state, _ = answered(dp)
    for event in before:
        state, _ = step(dp, state, event, NOW)
    state, effects = step(dp, state, CallerHungUp(), NOW)
    assert actions(effects) == [SaveRating(None, len(before) + 1, "caller_hangup")]
    assert state.finished and state.outcome == "transferred"  # served, not lost
    assert state.path[-1].node == "(caller hung up)"


def test_hang_up_before_an_operator_answers_is_not_a_rating(dp: Dialplan) -> None:
    state, _ = start(dp, CallerInfo(), NOW)
    state, _ = step(dp, state, Input("0"), NOW)
    state, effects = step(dp, state, CallerHungUp(), NOW)
    assert actions(effects) == [] and state.outcome == "caller_hangup"


def test_no_rating_after_a_failed_transfer(dp: Dialplan) -> None:
    state, _ = start(dp, CallerInfo(), NOW)
    state, _ = step(dp, state, Input("0"), NOW)
    state, effects = step(dp, state, TransferResult("failed"), NOW)
    assert actions(effects) == [Hangup("transfer_failed")]


def test_zero_retries_ends_at_once(dp: Dialplan) -> None:
    dp0 = dialplan(PLAN.replace("  retries: 1\n", "  retries: 0\n", 1))
    state, _ = answered(dp0)
    state, effects = step(dp0, state, Input("8"), NOW)
    assert actions(effects)[0] == SaveRating(None, 1, "invalid")


def test_only_listed_keys_rate(dp: Dialplan) -> None:
    dp3 = dialplan(PLAN.replace('keys: "12345"', "keys: 345"))
    state, _ = answered(dp3)
    state, effects = step(dp3, state, Input("1"), NOW)
    assert isinstance(actions(effects)[0], GetDigits)  # 1 is not a score here: retry


def test_without_rating_section_the_call_just_ends() -> None:
    text = PLAN.split("rating:\n")[0] + "nodes:" + PLAN.split("nodes:", 1)[1]
    dp = dialplan(text)
    assert dp.rating is None
    _, effects = answered(dp)
    assert actions(effects) == [Hangup("transferred")] and actions(effects)[0].rate_first


def test_rating_events_are_checked(dp: Dialplan) -> None:
    state, _ = answered(dp)
    with pytest.raises(MachineError):
        step(dp, state, TransferResult("answered"), NOW)


@pytest.mark.parametrize("keys", ["0123", "126", "11", ""])
def test_rating_keys_are_scores(keys: str) -> None:
    with pytest.raises(ValidationError):
        Rating(ask="a", retry="b", thanks="c", keys=keys)  # type: ignore[arg-type]


def test_demo_dialplan_asks_for_a_rating() -> None:
    from hotline.paths import PROJECT_ROOT
    from ivr.check import load_dialplan

    dp = load_dialplan(PROJECT_ROOT / "dialplan" / "hotline.yaml")
    assert dp.rating is not None and dp.rating.keys == "12345" and dp.rating.retries == 1
    assert dp.greeting is not None and dp.greeting.rating_notice
