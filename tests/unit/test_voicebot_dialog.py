from datetime import datetime, timedelta, timezone

import pytest

from lottery.answers import ClaimRule, Facts, Game, Lookup, TicketStatus
from voicebot.dialog import (
    OFFER_OPERATOR,
    REPROMPT,
    AskLookup,
    Dialog,
    DialogSettings,
    EndCall,
    Say,
    Transfer,
)
from voicebot.intents import CHECK_TICKET, NEXT_DRAW, UNKNOWN, Understanding

pytestmark = pytest.mark.unit

MSK = timezone(timedelta(hours=3))
T0 = datetime(2025, 11, 26, 15, 0, tzinfo=MSK)
GAMES = [Game("Russian Lotto", "every Sunday at 2 pm", datetime(2025, 11, 30, 14, tzinfo=MSK))]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def started() -> Dialog:
    d = Dialog()
    effects = d.start(at(0))
    assert isinstance(effects[0], Say)
    d.turn_finished(at(5))
    return d


def transfer_of(effects) -> Transfer:
    transfers = [e for e in effects if isinstance(e, Transfer)]
    assert len(transfers) == 1, effects
    assert effects[-1] is transfers[0]
    return transfers[0]


def said(effects) -> list[str]:
    return [s for e in effects if isinstance(e, Say) for s in e.sentences]


# --- operator, at any moment ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["operator", "i want a real person", "let me talk to someone"])
def test_operator_phrase_transfers_at_once(text):
    d = started()
    t = transfer_of(d.utterance(text, at(6)))
    assert t.context.reason == "asked"
    assert d.ended and d.next_deadline is None


def test_key_0_transfers_at_once():
    d = started()
    t = transfer_of(d.dtmf("0", at(6)))
    assert t.context.reason == "dtmf_0"


def test_operator_during_pending_lookup_and_stale_result_ignored():
    d = started()
    [ask] = d.utterance("when is the next draw", at(6))
    assert isinstance(ask, AskLookup)
    transfer_of(d.utterance("operator", at(7)))
    assert d.lookup_done(ask.request_id, Facts(games=GAMES), at(8)) == []


def test_operator_while_offer_pending():
    d = started()
    d.utterance("blah", at(6))
    d.utterance("blah blah", at(8))
    transfer_of(d.dtmf("0", at(9)))


def test_transfer_carries_intent_slots_and_transcript():
    d = started()
    d.utterance("did i win on the russian lotto", at(6))  # asks for the ticket number
    t = transfer_of(d.utterance("i want a person", at(9)))
    ctx = t.context
    assert ctx.intent == CHECK_TICKET
    assert ctx.slots["game"] == "Russian Lotto"
    speakers = [(e.speaker, e.text) for e in ctx.transcript]
    assert ("caller", "did i win on the russian lotto") in speakers
    assert ("caller", "i want a person") in speakers
    assert speakers[0][0] == "bot"
    assert speakers[-1][0] == "bot"


# --- misses -----------------------------------------------------------------------------------


def test_first_miss_helps_second_offers_operator_third_transfers():
    d = started()
    first = d.utterance("the weather is nice", at(6))
    assert "did not understand" in said(first)[0]
    second = d.utterance("purple monkey", at(10))
    assert said(second) == [OFFER_OPERATOR]
    t = transfer_of(d.utterance("dishwasher", at(14)))
    assert t.context.reason == "misses"


def test_yes_to_offer_transfers():
    d = started()
    d.utterance("nonsense", at(6))
    d.utterance("more nonsense", at(8))
    transfer_of(d.utterance("yes please", at(10)))


def test_no_to_offer_resets_misses():
    d = started()
    d.utterance("nonsense", at(6))
    d.utterance("more nonsense", at(8))
    assert said(d.utterance("no", at(10))) == ["What would you like to know?"]
    assert d.misses == 0
    assert not any(isinstance(e, Transfer) for e in d.utterance("nonsense", at(12)))


def test_understood_turn_resets_misses():
    d = started()
    d.utterance("nonsense", at(6))
    d.utterance("when is the next draw", at(8))
    assert d.misses == 0


def test_low_confidence_counts_as_miss():
    d = started()
    effects = d.utterance("x", at(6), Understanding(NEXT_DRAW, {}, 0.2))
    assert "did not understand" in said(effects)[0]
    assert d.misses == 1


def test_request_during_offer_is_answered():
    d = started()
    d.utterance("nonsense", at(6))
    d.utterance("more nonsense", at(8))
    [ask] = d.utterance("when is the next draw", at(10))
    assert ask.lookup == Lookup(NEXT_DRAW)


# --- silence ----------------------------------------------------------------------------------


def test_silence_reprompts_then_transfers():
    d = Dialog(DialogSettings(silence_timeout=timedelta(seconds=7)))
    d.start(at(0))
    assert d.next_deadline is None  # bot still speaking
    d.turn_finished(at(5))
    assert d.next_deadline == at(12)
    assert d.tick(at(11)) == []
    assert said(d.tick(at(12))) == [REPROMPT]
    d.turn_finished(at(14))
    t = transfer_of(d.tick(at(21)))
    assert t.context.reason == "silence"


def test_speech_cancels_silence_timer():
    d = started()
    d.speech_started(at(8))
    assert d.next_deadline is None
    assert d.tick(at(30)) == []


def test_caller_input_resets_silence_count():
    d = started()
    d.tick(at(12))  # first silence
    d.turn_finished(at(14))
    d.utterance("when is the next draw", at(15))
    assert d.silences == 0


# --- ticket by voice and by keys --------------------------------------------------------------


def won_ticket(number="123456"):
    return TicketStatus(number, "Russian Lotto", datetime(2025, 11, 23, 14, tzinfo=MSK), True, 5000)


RULES = [ClaimRule(1, 10_000, "Show your ticket at any lottery kiosk.")]


def test_ticket_asked_then_spoken():
    d = started()
    effects = d.utterance("i want to check my ticket", at(6))
    assert "ticket number" in said(effects)[0]
    assert d.expecting == "ticket"
    d.turn_finished(at(8))
    [ask] = d.utterance("one two three four five six", at(10))
    assert ask.lookup == Lookup(CHECK_TICKET, ticket="123456")
    assert d.next_deadline == at(15)  # lookup timeout, no silence timer while looking up
    effects = d.lookup_done(ask.request_id, Facts(ticket=won_ticket(), claim_rules=RULES), at(11))
    text = said(effects)
    assert text[0].startswith("Congratulations! Ticket 1 2 3 4 5 6 won")
    assert text[-1] == "Is there anything else I can help you with?"


def test_ticket_keyed_in_with_hash():
    d = started()
    d.utterance("check my ticket", at(6))
    for i, key in enumerate("123456"):
        assert d.dtmf(key, at(7 + i * 0.3)) == []
    [ask] = d.dtmf("#", at(9))
    assert ask.lookup == Lookup(CHECK_TICKET, ticket="123456")


def test_ticket_keyed_in_without_being_asked():
    d = started()
    for key in "4839":
        d.dtmf(key, at(6))
    [ask] = d.dtmf("#", at(7))
    assert ask.lookup.ticket == "4839"


def test_keyed_ticket_may_start_with_zero_when_asked():
    d = started()
    d.utterance("check my ticket", at(6))
    for key in "001234":
        assert d.dtmf(key, at(7)) == []
    [ask] = d.dtmf("#", at(8))
    assert ask.lookup.ticket == "001234"


def test_lone_zero_while_asked_for_ticket_transfers_after_digit_timeout():
    d = started()
    d.utterance("check my ticket", at(6))
    assert d.dtmf("0", at(7)) == []
    assert d.next_deadline == at(11)
    t = transfer_of(d.tick(at(11)))
    assert t.context.reason == "dtmf_0"


def test_keyed_digits_time_out_into_a_lookup():
    d = started()
    d.utterance("check my ticket", at(6))
    for key in "123456":
        d.dtmf(key, at(7))
    [ask] = d.tick(at(11))
    assert ask.lookup.ticket == "123456"


def test_star_clears_and_short_entry_is_reprompted():
    d = started()
    d.utterance("check my ticket", at(6))
    d.dtmf("9", at(7))
    d.dtmf("*", at(7.5))
    d.dtmf("1", at(8))
    effects = d.dtmf("#", at(8.5))
    assert said(effects) == ["Please key in your ticket number and press the hash key."]


def test_unknown_ticket_asks_again_and_keeps_context():
    d = started()
    [ask] = d.utterance("check ticket 999999", at(6))
    effects = d.lookup_done(ask.request_id, Facts(), at(7))
    assert said(effects)[0] == "I could not find ticket 9 9 9 9 9 9."
    assert d.expecting == "ticket"
    [ask2] = d.utterance("one two three four five six", at(9))
    assert ask2.lookup.ticket == "123456"


def test_game_question_is_answered_with_bare_game():
    d = started()
    [ask] = d.utterance("what were the winning numbers yesterday", at(6))
    games = [*GAMES, Game("Six of Forty-Five", "daily", None)]
    effects = d.lookup_done(ask.request_id, Facts(games=games), at(7))
    assert said(effects) == ["Which game: Russian Lotto or Six of Forty-Five?"]
    [ask2] = d.utterance("russian lotto", at(9))
    assert ask2.lookup.game == "Russian Lotto"
    assert ask2.lookup.day == at(0).date() - timedelta(days=1)  # date kept from first turn


# --- lookups, ending ----------------------------------------------------------------------------


def test_lookup_timeout_transfers():
    d = started()
    [ask] = d.utterance("when is the next draw", at(6))
    t = transfer_of(d.tick(at(11)))
    assert t.context.reason == "lookup_failed"
    assert t.context.intent == NEXT_DRAW


def test_lookup_failure_transfers():
    d = started()
    [ask] = d.utterance("when is the next draw", at(6))
    transfer_of(d.lookup_failed(ask.request_id, at(7)))


def test_no_more_questions_ends_call():
    d = started()
    [ask] = d.utterance("when is the next draw", at(6))
    d.lookup_done(ask.request_id, Facts(games=GAMES), at(7))
    effects = d.utterance("no thanks", at(12))
    assert said(effects) == ["Thank you for calling. Goodbye!"]
    assert effects[-1] == EndCall("done")
    assert d.ended


def test_yes_to_anything_else_asks_what():
    d = started()
    [ask] = d.utterance("when is the next draw", at(6))
    d.lookup_done(ask.request_id, Facts(games=GAMES), at(7))
    assert said(d.utterance("yes", at(12))) == ["What would you like to know?"]


def test_after_end_events_do_nothing():
    d = started()
    d.hangup(at(6))
    assert d.utterance("operator", at(7)) == []
    assert d.dtmf("0", at(7)) == []
    assert d.tick(at(100)) == []


def test_given_understanding_is_used_as_is():
    d = started()
    effects = d.utterance("garbled", at(6), Understanding(UNKNOWN, {}, 0.0))
    assert d.misses == 1
    assert isinstance(effects[0], Say)


# --- unsure between two questions: the bot asks which -------------------------------------------

UNSURE_BETWEEN = "the next draw results"  # winning numbers or next draw, nearly equally


def asked_which() -> Dialog:
    d = started()
    effects = d.utterance(UNSURE_BETWEEN, at(6))
    assert said(effects) == ["Do you want the winning numbers or the next draw time?",
                             "Say which one, or press 1 for the winning numbers, or 2 for the "
                             "next draw time."]  # fmt: skip
    assert d.expecting == "choice" and d.misses == 0  # a question, not a miss
    return d


@pytest.mark.parametrize(("answer", "intent"), [
    ("the winning numbers", "winning_numbers"), ("numbers please", "winning_numbers"),
    ("the first one", "winning_numbers"), ("when is the next draw", "next_draw"),
    ("the next draw time", "next_draw"), ("the second", "next_draw"),
])  # fmt: skip
def test_the_answer_to_which_question_is_taken_by_voice(answer, intent):
    d = asked_which()
    effects = d.utterance(answer, at(8))
    assert [e.lookup.intent for e in effects if isinstance(e, AskLookup)] == [intent]
    assert d.clarified == 1 and d.misses == 0 and d.expecting is None


@pytest.mark.parametrize(("key", "intent"), [("1", "winning_numbers"), ("2", "next_draw")])
def test_the_answer_to_which_question_is_taken_by_key(key, intent):
    d = asked_which()
    effects = d.dtmf(key, at(8))
    assert [e.lookup.intent for e in effects if isinstance(e, AskLookup)] == [intent]
    assert d.clarified == 1


def test_the_operator_stays_one_word_or_key_0_away_while_the_bot_asks_which():
    d = asked_which()
    assert transfer_of(d.utterance("operator", at(8))).context.reason == "asked"
    d = asked_which()
    assert transfer_of(d.dtmf("0", at(8))).context.reason == "dtmf_0"


def test_no_to_which_question_asks_what_else_and_nonsense_is_a_miss():
    d = asked_which()
    assert said(d.utterance("no", at(8))) == ["What would you like to know?"]
    d = asked_which()
    effects = d.utterance("blah blah", at(8))
    assert d.misses == 1 and d.expecting != "choice" and said(effects)[0].startswith("Sorry")


def test_the_slots_of_the_unsure_sentence_carry_into_the_chosen_question():
    d = started()
    d.utterance("the next russian lotto draw results", at(6))
    effects = d.dtmf("1", at(8))
    lookups = [e.lookup for e in effects if isinstance(e, AskLookup)]
    assert lookups and lookups[0].intent == "winning_numbers" and lookups[0].game == "Russian Lotto"
