from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from lottery.answers import (
    ClaimRule,
    Draw,
    Facts,
    Game,
    Lookup,
    TicketStatus,
    compose,
    format_amount,
    format_date,
    format_when,
    lookup_for,
    spell_ticket,
)
from voicebot.intents import (
    CHECK_TICKET,
    CLAIM_WINNINGS,
    NEXT_DRAW,
    OPERATOR,
    UNKNOWN,
    WINNING_NUMBERS,
)

pytestmark = pytest.mark.unit

MSK = timezone(timedelta(hours=3))
NOW = datetime(2025, 11, 26, 15, 0, tzinfo=MSK)  # Wednesday afternoon
RL = "Russian Lotto"
S45 = "Six of Forty-Five"

GAMES = [
    Game(RL, "every Sunday at 2 pm", datetime(2025, 11, 30, 14, 0, tzinfo=MSK)),
    Game(S45, "every day at 11 am and 8 pm", datetime(2025, 11, 26, 20, 0, tzinfo=MSK)),
]
RULES = [
    ClaimRule(1, 2_000, "Show your ticket at any lottery kiosk and get cash at once."),
    ClaimRule(2_001, 1_000_000, "Come to a lottery office with your ticket and passport."),
    ClaimRule(1_000_001, None, "Call us to book a visit to the head office."),
]


def ticket(**kw):
    base = dict(number="123456", game=S45, draw_at=datetime(2025, 11, 22, 20, 0, tzinfo=MSK),
                won=True, prize_amount=5000, currency="RUB", claimed=False)  # fmt: skip
    return TicketStatus(**(base | kw))


# --- wording ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (5000, "RUB", "5,000 rubles"),
        (1, "RUB", "1 ruble"),
        (1_000_000, "RUB", "1,000,000 rubles"),
        (Decimal("12.50"), "RUB", "12.50 rubles"),
        (Decimal("300.00"), "RUB", "300 rubles"),
        (20, "USD", "20 dollars"),
    ],
)
def test_format_amount(amount, currency, text):
    assert format_amount(amount, currency) == text


def test_format_date_and_when():
    assert format_date(date(2025, 11, 29)) == "Saturday, 29 November"
    sat = datetime(2025, 11, 29, 20, 0, tzinfo=MSK)
    assert format_when(sat) == "Saturday, 29 November at 8 pm"
    assert format_when(sat.replace(minute=30), NOW) == "Saturday, 29 November at 8:30 pm"
    assert format_when(datetime(2025, 11, 26, 20, 0, tzinfo=MSK), NOW) == "today at 8 pm"
    assert format_when(datetime(2025, 11, 27, 11, 0, tzinfo=MSK), NOW) == "tomorrow at 11 am"
    assert format_when(datetime(2025, 11, 29, 12, 0, tzinfo=MSK)) == "Saturday, 29 November at noon"


def test_format_when_uses_the_draw_time_zone():
    now_utc = datetime(2025, 11, 26, 22, 30, tzinfo=UTC)  # already the 27th in Moscow
    draw = datetime(2025, 11, 27, 11, 0, tzinfo=MSK)
    assert format_when(draw, now_utc) == "today at 11 am"


def test_spell_ticket():
    assert spell_ticket("704559") == "7 0 4 5 5 9"


# --- lookups ----------------------------------------------------------------------------------


def test_lookup_for():
    assert lookup_for(CHECK_TICKET, {}) is None
    assert lookup_for(CHECK_TICKET, {"ticket": "123456"}) == Lookup(CHECK_TICKET, ticket="123456")
    assert lookup_for(WINNING_NUMBERS, {"game": RL, "date": date(2025, 11, 23)}) == Lookup(
        WINNING_NUMBERS, game=RL, day=date(2025, 11, 23)
    )
    assert lookup_for(NEXT_DRAW, {}) == Lookup(NEXT_DRAW)
    assert lookup_for(CLAIM_WINNINGS, {"amount": 5}) == Lookup(CLAIM_WINNINGS)
    assert lookup_for(OPERATOR, {}) is None


# --- check ticket -----------------------------------------------------------------------------


def test_missing_ticket_asks_for_it():
    answer = compose(CHECK_TICKET, {}, None, NOW)
    assert answer.needs == "ticket"
    assert "ticket number" in answer.sentences[0]


def test_ticket_not_found_asks_again():
    answer = compose(CHECK_TICKET, {"ticket": "999999"}, Facts(), NOW)
    assert answer.needs == "ticket"
    assert answer.sentences[0] == "I could not find ticket 9 9 9 9 9 9."


def test_winning_ticket_with_claim_rule():
    answer = compose(CHECK_TICKET, {"ticket": "123456"},
                     Facts(ticket=ticket(), claim_rules=RULES), NOW)  # fmt: skip
    assert answer.sentences == [
        "Congratulations! Ticket 1 2 3 4 5 6 won in the Six of Forty-Five draw on Saturday, "
        "22 November.",
        "Your prize is 5,000 rubles.",
        "Come to a lottery office with your ticket and passport.",
    ]
    assert answer.needs is None
    assert answer.slots["amount"] == 5000


def test_claimed_ticket():
    answer = compose(CHECK_TICKET, {"ticket": "123456"},
                     Facts(ticket=ticket(claimed=True), claim_rules=RULES), NOW)  # fmt: skip
    assert answer.sentences[-1] == "This prize has already been paid out."


def test_losing_ticket():
    answer = compose(CHECK_TICKET, {"ticket": "123456"},
                     Facts(ticket=ticket(won=False, prize_amount=None)), NOW)  # fmt: skip
    assert answer.sentences[0] == (
        "Ticket 1 2 3 4 5 6 did not win in the Six of Forty-Five draw on Saturday, 22 November."
    )


def test_ticket_for_future_draw():
    status = ticket(won=False, prize_amount=None,
                    draw_at=datetime(2025, 11, 29, 20, 0, tzinfo=MSK))  # fmt: skip
    answer = compose(CHECK_TICKET, {"ticket": "123456"}, Facts(ticket=status), NOW)
    assert answer.sentences == [
        "Ticket 1 2 3 4 5 6 takes part in the Six of Forty-Five draw on Saturday, 29 November at "
        "8 pm.",
        "Please call again after the draw.",
    ]


# --- next draw --------------------------------------------------------------------------------


def test_next_draw_all_games():
    answer = compose(NEXT_DRAW, {}, Facts(games=GAMES), NOW)
    assert answer.sentences == [
        "The next Russian Lotto draw is Sunday, 30 November at 2 pm.",
        "The next Six of Forty-Five draw is today at 8 pm.",
    ]


def test_next_draw_one_game_adds_schedule():
    answer = compose(NEXT_DRAW, {"game": RL}, Facts(games=GAMES), NOW)
    assert answer.sentences == [
        "The next Russian Lotto draw is Sunday, 30 November at 2 pm.",
        "Russian Lotto is drawn every Sunday at 2 pm.",
    ]


def test_next_draw_on_a_day_without_draw():
    answer = compose(NEXT_DRAW, {"game": RL, "date": date(2025, 11, 29)}, Facts(games=GAMES), NOW)
    assert answer.sentences == [
        "There is no Russian Lotto draw on Saturday, 29 November. "
        "The next one is Sunday, 30 November at 2 pm."
    ]


def test_next_draw_unscheduled_and_unknown_game():
    games = [Game(RL, "every Sunday at 2 pm", None)]
    assert compose(NEXT_DRAW, {}, Facts(games=games), NOW).sentences == [
        "No Russian Lotto draw is scheduled yet. It is drawn every Sunday at 2 pm."
    ]
    assert (
        "no schedule for Six of Forty-Five"
        in compose(NEXT_DRAW, {"game": S45}, Facts(games=games), NOW).sentences[0]
    )


# --- winning numbers --------------------------------------------------------------------------

DRAWS = [
    Draw(S45, datetime(2025, 11, 25, 20, 0, tzinfo=MSK), (3, 11, 18, 27, 33, 45)),
    Draw(S45, datetime(2025, 11, 26, 11, 0, tzinfo=MSK), (1, 2, 3, 4, 5, 6)),
    Draw(RL, datetime(2025, 11, 23, 14, 0, tzinfo=MSK), tuple(range(1, 26))),
]


def test_winning_numbers_latest_draw_of_game():
    answer = compose(WINNING_NUMBERS, {"game": S45}, Facts(games=GAMES, draws=DRAWS), NOW)
    assert answer.sentences == [
        "The winning numbers of the Six of Forty-Five draw on Wednesday, 26 November "
        "are 1, 2, 3, 4, 5 and 6."
    ]


def test_winning_numbers_on_a_date():
    slots = {"game": S45, "date": date(2025, 11, 25)}
    answer = compose(WINNING_NUMBERS, slots, Facts(games=GAMES, draws=DRAWS), NOW)
    assert answer.sentences[0].endswith("Tuesday, 25 November are 3, 11, 18, 27, 33 and 45.")


def test_long_draw_is_split_into_short_sentences():
    answer = compose(WINNING_NUMBERS, {"game": RL}, Facts(games=GAMES, draws=DRAWS), NOW)
    assert answer.sentences[0].endswith("Sunday, 23 November are:")
    assert answer.sentences[1:] == [
        "1, 2, 3, 4, 5, 6, 7, 8, 9, 10.",
        "11, 12, 13, 14, 15, 16, 17, 18, 19, 20.",
        "21, 22, 23, 24, 25.",
    ]


def test_winning_numbers_without_game_asks_which():
    answer = compose(WINNING_NUMBERS, {}, Facts(games=GAMES, draws=DRAWS), NOW)
    assert answer.needs == "game"
    assert answer.sentences == ["Which game: Russian Lotto or Six of Forty-Five?"]


def test_winning_numbers_without_game_when_only_one_game():
    answer = compose(WINNING_NUMBERS, {}, Facts(games=GAMES[:1], draws=DRAWS[2:]), NOW)
    assert answer.needs is None
    assert "Russian Lotto" in answer.sentences[0]


def test_no_results_for_date():
    slots = {"game": RL, "date": date(2025, 11, 20)}
    answer = compose(WINNING_NUMBERS, slots, Facts(games=GAMES, draws=DRAWS), NOW)
    assert answer.sentences == ["I have no Russian Lotto results on Thursday, 20 November."]


# --- claims, operator, unknown ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (500, "For a prize of 500 rubles: Show your ticket at any lottery kiosk"),
        (5000, "For a prize of 5,000 rubles: Come to a lottery office"),
        (5_000_000, "For a prize of 5,000,000 rubles: Call us"),
    ],
)
def test_claim_with_amount(amount, expected):
    answer = compose(CLAIM_WINNINGS, {"amount": amount}, Facts(claim_rules=RULES), NOW)
    assert len(answer.sentences) == 1
    assert answer.sentences[0].startswith(expected)


def test_claim_without_amount_lists_rules():
    answer = compose(CLAIM_WINNINGS, {}, Facts(claim_rules=RULES), NOW)
    assert [s.split(":")[0] for s in answer.sentences] == [
        "For prizes up to 2,000 rubles",
        "For prizes from 2,001 rubles to 1,000,000 rubles",
        "For prizes of 1,000,001 rubles or more",
    ]


def test_claim_amount_outside_rules_goes_to_operator():
    answer = compose(CLAIM_WINNINGS, {"amount": 5}, Facts(claim_rules=RULES[1:]), NOW)
    assert "operator" in answer.sentences[0]


def test_operator_and_unknown():
    assert "operator" in compose(OPERATOR, {}, None, NOW).sentences[0]
    answer = compose(UNKNOWN, {}, None, NOW)
    assert len(answer.sentences) == 2
    assert all(s.endswith(".") for s in answer.sentences)
