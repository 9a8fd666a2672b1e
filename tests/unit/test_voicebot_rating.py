"""The rating asked by the voice bot, pure: `RatingDialog`, `parse_score`, and the IVR machine's
`RatingGiven` (the bot asked the whole rating; the machine saves it as it is)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.machine import (
    Hangup,
    Input,
    Play,
    RatingGiven,
    SaveRating,
    rating_prompts,
    step,
)
from tests.unit.test_ivr_machine_rating import NOW, PLAN, actions, answered, dialplan
from voicebot.dialog import EndCall, Say
from voicebot.rating import RATING_PHRASES, RatingAnswer, RatingDialog, parse_score

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
ASK, RETRY = "Rate us 1 to 5.", "One key from 1 to 5, please."


def dialog(keys: str = "12345") -> RatingDialog:
    d = RatingDialog([ASK, RETRY], keys, timedelta(seconds=4))
    assert d.start(T0) == [Say((ASK,))]
    d.turn_finished(T0)  # the ask has been played: listening
    return d


@pytest.mark.parametrize("text, score", [
    ("five", 5), ("one", 1), ("4", 4), ("uh three", 3), ("five five", 5),
    ("", None), ("six", None), ("seven", None), ("two or three", None), ("0", None), ("55", None),
])
def test_parse_score(text: str, score: int | None) -> None:
    assert parse_score(text) == score


def test_the_recognizer_vocabulary_is_the_scores() -> None:
    assert [parse_score(p) for p in RATING_PHRASES] == [1, 2, 3, 4, 5]


def test_spoken_five_rates_five_by_speech() -> None:
    d = dialog()
    d.speech_started(T0 + timedelta(seconds=1))
    assert d.next_deadline is None  # no silence timeout while the caller speaks
    assert d.utterance("five", T0 + timedelta(seconds=2)) == [EndCall("rated")]
    assert d.answer == RatingAnswer(5, "speech", "five", 1, "rated")
    assert d.last_intent == "rating" and d.last_slots["score"] == 5 and d.ended


def test_key_four_rates_four_by_key() -> None:
    d = dialog()
    assert d.dtmf("4", T0) == [EndCall("rated")]
    assert d.answer == RatingAnswer(4, "key", "4", 1, "rated")


def test_silence_twice_is_no_rating() -> None:
    d = dialog()
    assert d.tick(T0 + timedelta(seconds=3.9)) == []
    assert d.next_deadline == T0 + timedelta(seconds=4)
    assert d.tick(T0 + timedelta(seconds=4)) == [Say((RETRY,))]
    assert d.next_deadline is None  # restarts once the retry has been played
    d.turn_finished(T0 + timedelta(seconds=6))
    assert d.tick(T0 + timedelta(seconds=10)) == [EndCall("no_input")]
    assert d.answer == RatingAnswer(None, None, "", 2, "no_input")
    assert d.next_deadline is None


@pytest.mark.parametrize("first", ["key 9", "key 0", "said seven", "said hello"])
def test_one_retry_after_anything_else(first: str) -> None:
    d = dialog()
    kind, what = first.split(" ", 1)
    got = d.dtmf(what, T0) if kind == "key" else d.utterance(what, T0)
    assert got == [Say((RETRY,))]
    d.turn_finished(T0)
    assert d.utterance("two", T0) == [EndCall("rated")]
    assert d.answer == RatingAnswer(2, "speech", "two", 2, "rated")


def test_twice_invalid_is_no_rating() -> None:
    d = dialog()
    d.utterance("seven", T0)
    assert d.dtmf("8", T0) == [EndCall("invalid")]
    assert d.answer is not None and (d.answer.score, d.answer.reason) == (None, "invalid")


def test_only_the_dialplan_keys_rate() -> None:
    d = dialog(keys="345")
    assert d.dtmf("1", T0) == [Say((RETRY,))]
    assert d.utterance("one", T0) == [EndCall("invalid")]


def test_after_the_end_nothing_happens() -> None:
    d = dialog()
    d.dtmf("5", T0)
    assert d.dtmf("1", T0) == [] and d.utterance("two", T0) == [] and d.tick(T0 + timedelta(1)) == []
    assert d.answer is not None and d.answer.score == 5


def test_hangup_leaves_no_answer() -> None:
    d = dialog()
    d.hangup(T0)
    assert d.answer is None and d.next_deadline is None


# --- the IVR machine ---------------------------------------------------------------------------


def test_rating_prompts_are_the_ask_and_one_retry() -> None:
    dp = dialplan()
    state, _ = answered(dp)
    assert [[p.text for p in g] for g in rating_prompts(dp, state)] == [[ASK], [RETRY]]
    state_ru, _ = answered(dp, language="ru")
    assert rating_prompts(dp, state_ru)[0][0].text == "Оцените от 1 до 5."


@pytest.mark.parametrize("given, save, detail", [
    (RatingGiven(5, "speech", 1, "rated", "five"), SaveRating(5, 1, "rated", "speech"),
     "rated 5 by speech ('five')"),
    (RatingGiven(4, "key", 2, "rated", "4"), SaveRating(4, 2, "rated", "key"), "rated 4"),
    (RatingGiven(None, None, 2, "no_input"), SaveRating(None, 2, "no_input"),
     "no input, not rated"),
    (RatingGiven(None, "speech", 2, "invalid", "seven"),
     SaveRating(None, 2, "invalid", "speech"), "invalid by speech ('seven'), not rated"),
])
def test_a_rating_given_by_the_bot_is_saved_as_it_is(given: RatingGiven, save: SaveRating,
                                                    detail: str) -> None:
    dp = dialplan()
    state, _ = answered(dp)
    state, effects = step(dp, state, given, NOW)
    got_save, thanks, hangup = actions(effects)
    assert got_save == save
    assert isinstance(thanks, Play) and [p.text for p in thanks.prompts] == ["Thank you."]
    assert hangup == Hangup("rated" if save.score else "not_rated")
    assert state.finished and state.outcome == "transferred"
    assert (state.path[-1].node, state.path[-1].detail) == ("(rating)", detail)


def test_a_score_outside_the_keys_is_not_a_rating() -> None:
    dp3 = dialplan(PLAN.replace('keys: "12345"', "keys: 345"))
    state, _ = answered(dp3)
    _, effects = step(dp3, state, RatingGiven(1, "speech", 1, "rated", "one"), NOW)
    assert actions(effects)[0] == SaveRating(None, 1, "invalid", "speech")


def test_key_ratings_still_say_key() -> None:
    dp = dialplan()
    state, _ = answered(dp)
    _, effects = step(dp, state, Input("3"), NOW)
    assert actions(effects)[0].via == "key"
