"""The `hotline bot chat` loop with StringIO in/out and a fake facts object."""

from __future__ import annotations

import argparse
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest

from hotline.app.cli_bot import _fixed_or_real_clock, add_commands
from lottery.answers import ClaimRule, Draw, Facts, Game, Lookup, TicketStatus
from voicebot.chat import ChatOutcome, chat
from voicebot.intents import CHECK_TICKET, NEXT_DRAW

pytestmark = pytest.mark.unit

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2025, 3, 1, 21, 0, tzinfo=MSK)


class FakeFacts:
    """Canned facts; records every lookup; can be made to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.lookups: list[Lookup] = []
        self.fail = fail

    async def fetch(self, lookup: Lookup) -> Facts:
        self.lookups.append(lookup)
        if self.fail:
            raise ConnectionError("database is down")
        if lookup.intent == CHECK_TICKET and lookup.ticket == "123456":
            return Facts(
                ticket=TicketStatus(
                    "123456",
                    "Six of Forty-Five",
                    datetime(2025, 2, 28, 22, tzinfo=MSK),
                    True,
                    5_000,
                ),  # fmt: skip
                claim_rules=[ClaimRule(2_001, 100_000, "Bring your passport to a bank.")],
            )
        if lookup.intent == NEXT_DRAW:
            return Facts(games=[Game("Russian Lotto", "every Sunday at 2 pm",
                                     datetime(2025, 3, 2, 14, tzinfo=MSK))])  # fmt: skip
        if lookup.intent == "winning_numbers":
            return Facts(draws=[Draw("Russian Lotto", datetime(2025, 2, 23, 14, tzinfo=MSK),
                                     tuple(range(1, 16)))])  # fmt: skip
        return Facts()


def run(lines: str, facts: FakeFacts | None = None, **kw) -> tuple[ChatOutcome, str, FakeFacts]:
    facts = facts or FakeFacts()
    out = StringIO()
    outcome = chat(facts, StringIO(lines), out, clock=lambda: NOW, **kw)
    return outcome, out.getvalue(), facts


def test_greets_answers_and_ends_on_no():
    outcome, text, facts = run("did my ticket 123456 win\nno\n")
    assert outcome == ChatOutcome("ended")
    assert text.startswith("  ~ Type what a caller would say.")
    assert "bot> Hello, this is the lottery hotline assistant.\n" in text
    assert "you> did my ticket 123456 win\n" in text
    assert "  ~ understood check_ticket" in text and "ticket=123456" in text
    assert "bot> Congratulations! Ticket 1 2 3 4 5 6 won" in text
    assert "bot> Your prize is 5,000 rubles.\n" in text
    assert "bot> Bring your passport to a bank.\n" in text
    assert "bot> Thank you for calling. Goodbye!\n" in text
    assert facts.lookups == [Lookup(CHECK_TICKET, ticket="123456")]


def test_asking_for_an_operator_prints_the_transfer_and_stops_reading():
    inp = StringIO("when is the next russian lotto draw\noperator please\nnever read\n")
    out = StringIO()
    outcome = chat(FakeFacts(), inp, out, clock=lambda: NOW)
    assert outcome.how == "transfer"
    ctx = outcome.transfer
    assert ctx is not None and ctx.reason == "asked" and ctx.intent == NEXT_DRAW
    assert ctx.slots["game"] == "Russian Lotto"
    text = out.getvalue()
    assert "bot> The next Russian Lotto draw is tomorrow at 2 pm.\n" in text
    assert "bot> Connecting you to an operator. Please stay on the line.\n" in text
    assert "  ~ transferred to an operator\n" in text
    assert "  ~   reason: asked\n" in text
    assert "  ~   slots:  game=Russian Lotto" in text
    assert "caller: operator please" in text
    assert text.rstrip().endswith("bot: Connecting you to an operator. Please stay on the line.")
    assert inp.readline() == "never read\n"


def test_dtmf_ticket_number():
    outcome, text, facts = run("check my ticket\n/dtmf 123456#\n")
    assert outcome.how == "eof"
    assert facts.lookups == [Lookup(CHECK_TICKET, ticket="123456")]
    assert "bot> Congratulations!" in text


def test_dtmf_without_hash_is_taken_after_the_key_timeout():
    _, _, facts = run("/dtmf 1 2 3 4 5 6\n")
    assert facts.lookups == [Lookup(CHECK_TICKET, ticket="123456")]


def test_key_zero_transfers():
    outcome, text, _ = run("/dtmf 0\n")
    assert outcome.how == "transfer" and outcome.transfer.reason == "dtmf_0"
    assert "caller: [key 0]" in text


def test_bad_dtmf_and_unknown_command_keep_the_chat_going():
    outcome, text, _ = run("/dtmf 12a\n/frobnicate\n/help\n")
    assert outcome.how == "eof"
    assert "  ~ /dtmf takes keys 0-9, # and *" in text
    assert "  ~ unknown command /frobnicate" in text


def test_lookup_failure_transfers_like_a_call():
    outcome, text, _ = run("when is the next draw\n", FakeFacts(fail=True))
    assert outcome.how == "transfer" and outcome.transfer.reason == "lookup_failed"
    assert "  ~ lookup failed: ConnectionError: database is down" in text
    assert "bot> Sorry, I cannot look that up right now.\n" in text


def test_silence_reprompts_then_transfers():
    outcome, text, _ = run("/silence\n/silence\n")
    assert "bot> Are you still there? How can I help you?\n" in text
    assert outcome.how == "transfer" and outcome.transfer.reason == "silence"


def test_misses_offer_an_operator():
    outcome, text, _ = run("i like turtles\nblue\nyes\n")
    assert "bot> Shall I put you through to an operator? Say yes or press 0.\n" in text
    assert outcome.how == "transfer" and outcome.transfer.reason == "misses"


def test_quit_and_blank_lines():
    outcome, text, _ = run("\n   \n/quit\nnever read\n")
    assert outcome.how == "hangup"
    assert "you> \n" not in text


def test_winning_numbers_of_a_long_draw():
    _, text, _ = run("russian lotto winning numbers\n")
    assert (
        "bot> The winning numbers of the Russian Lotto draw on Sunday, 23 February are:\n" in text
    )
    assert "bot> 1, 2, 3, 4, 5, 6, 7, 8, 9, 10.\n" in text


def test_color_dims_notes_and_plain_has_no_escapes():
    _, plain, _ = run("operator\n")
    assert "\x1b[" not in plain
    _, colored, _ = run("operator\n", color=True)
    assert "\x1b[2m  ~ understood operator" in colored
    assert "\x1b[1mbot>\x1b[0m Connecting you" in colored


def test_echo_can_be_turned_off():
    _, text, _ = run("operator\n", echo=False)
    assert "you>" not in text


def test_cli_adds_bot_chat():
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bot", "chat", "--now", "2025-03-01T21:00+03:00", "--no-color"])
    assert args.bot_command == "chat" and args.no_color and callable(args.func)
    assert _fixed_or_real_clock(args.now)() == NOW
    with pytest.raises(SystemExit):
        _fixed_or_real_clock("2025-03-01T21:00")  # no offset
    with pytest.raises(SystemExit):
        _fixed_or_real_clock("tomorrow")
    assert _fixed_or_real_clock(None)().tzinfo is not None
