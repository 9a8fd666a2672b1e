"""DbLotteryFacts over a real SQLite database: migrated, seeded with the demo data at a fixed time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from hotline.app.demo import DEMO_TICKETS
from lottery.answers import Lookup, compose
from lottery.facts import DbLotteryFacts
from lottery.tables import DrawRow, GameRow, TicketRow
from tests.support.databases import DbBackend, Seed
from tests.support.seeded_db import copy_of, make_seeded
from voicebot.intents import CHECK_TICKET, CLAIM_WINNINGS, NEXT_DRAW, WINNING_NUMBERS

pytestmark = pytest.mark.component

MSK = ZoneInfo("Europe/Moscow")
# Seeded on Saturday 1 March 2025, 22:30 Moscow time: half an hour after that day's
# Six of Forty-Five draw; the latest Russian Lotto draw was Sunday 23 February.
SEEDED_AT = datetime(2025, 3, 1, 19, 30, tzinfo=UTC)
SIX = "Six of Forty-Five"
LOTTO = "Russian Lotto"


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)


@pytest.fixture(scope="module")
def seeded(db_backend: DbBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    with make_seeded(db_backend, tmp_path_factory, "lottery", SEEDED_AT) as seed:
        yield seed


@pytest.fixture
async def sm(db_backend: DbBackend, seeded: Seed, tmp_path: Path):
    async with copy_of(db_backend, seeded, tmp_path) as sessionmaker:
        yield sessionmaker


def facts_at(sm, now: datetime) -> DbLotteryFacts:
    return DbLotteryFacts(sm, lambda: now)


# --- next draw ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "six", "lotto"),
    [
        # Saturday evening, just before the daily draw
        (msk(2025, 3, 1, 21, 59), msk(2025, 3, 1, 22), msk(2025, 3, 2, 14)),
        # the very moment of the draw: that draw is no longer "next"
        (msk(2025, 3, 1, 22), msk(2025, 3, 2, 22), msk(2025, 3, 2, 14)),
        # Saturday night, after the draw
        (msk(2025, 3, 1, 23, 59, 59), msk(2025, 3, 2, 22), msk(2025, 3, 2, 14)),
        # Moscow midnight while it is still Saturday in UTC
        (datetime(2025, 3, 1, 21, 0, tzinfo=UTC), msk(2025, 3, 2, 22), msk(2025, 3, 2, 14)),
        # Sunday just before and just after the weekly draw
        (msk(2025, 3, 2, 13, 59), msk(2025, 3, 2, 22), msk(2025, 3, 2, 14)),
        (msk(2025, 3, 2, 14, 0, 1), msk(2025, 3, 2, 22), msk(2025, 3, 9, 14)),
        # Sunday night: a week to wait
        (msk(2025, 3, 2, 23, 30), msk(2025, 3, 3, 22), msk(2025, 3, 9, 14)),
        # Monday morning
        (msk(2025, 3, 3, 9), msk(2025, 3, 3, 22), msk(2025, 3, 9, 14)),
        # across the new year
        (msk(2024, 12, 29, 15), msk(2024, 12, 29, 22), msk(2025, 1, 5, 14)),
        (msk(2024, 12, 31, 22, 30), msk(2025, 1, 1, 22), msk(2025, 1, 5, 14)),
        # asked in another zone: 11 pm Saturday in New York is Sunday 7 am in Moscow
        (
            datetime(2025, 3, 1, 23, tzinfo=ZoneInfo("America/New_York")),
            msk(2025, 3, 2, 22),
            msk(2025, 3, 2, 14),
        ),  # fmt: skip
    ],
)
async def test_next_draw_of_each_game(sm, now, six, lotto):
    games = {g.name: g for g in (await facts_at(sm, now).fetch(Lookup(NEXT_DRAW))).games}
    assert games[SIX].next_draw_at == six
    assert games[LOTTO].next_draw_at == lotto
    # answered in the game's own time zone
    assert games[SIX].next_draw_at.utcoffset() == timedelta(hours=3)
    assert games[LOTTO].schedule == "every Sunday at 2 pm"
    assert games[SIX].schedule == "every day at 10 pm"


async def test_next_draw_for_one_game_by_name_or_code(sm):
    facts = facts_at(sm, msk(2025, 3, 1, 12))
    by_name = await facts.fetch(Lookup(NEXT_DRAW, game=LOTTO))
    assert [g.name for g in by_name.games] == [LOTTO]
    assert [g.name for g in await facts.games(game="six_of_45")] == [SIX]
    assert (await facts.fetch(Lookup(NEXT_DRAW, game="Keno"))).games == []


async def test_next_draw_on_a_named_day(sm):
    facts = facts_at(sm, msk(2025, 3, 3, 9))  # Monday
    found = await facts.fetch(Lookup(NEXT_DRAW, day=date(2025, 3, 6)))  # Thursday
    games = {g.name: g.next_draw_at for g in found.games}
    assert games[SIX] == msk(2025, 3, 6, 22)  # that day's draw, not today's
    assert games[LOTTO] == msk(2025, 3, 9, 14)
    answer = compose(NEXT_DRAW, {"date": date(2025, 3, 6)}, found, msk(2025, 3, 3, 9))
    assert answer.sentences == [
        "There is no Russian Lotto draw on Thursday, 6 March. The next one is Sunday, 9 March at 2 pm.",
        "The next Six of Forty-Five draw is Thursday, 6 March at 10 pm.",
    ]


async def test_schedule_in_a_zone_with_summer_time(sm):
    async with sm() as s, s.begin():
        s.add(GameRow(name="Berlin Daily", code="berlin", numbers_drawn=5, number_max=50,
                      ticket_price=2, schedule={"timezone": "Europe/Berlin",
                                                "weekdays": list(range(7)), "time": "02:30"}))  # fmt: skip
    berlin = ZoneInfo("Europe/Berlin")
    facts = facts_at(sm, datetime(2025, 3, 29, 12, tzinfo=berlin))
    # 02:30 does not exist on 30 March 2025 (clocks go 02:00 -> 03:00)
    (game,) = await facts.games(now=datetime(2025, 3, 29, 12, tzinfo=berlin), game="berlin")
    assert game.next_draw_at == datetime(2025, 3, 30, 3, 30, tzinfo=berlin)
    assert game.next_draw_at.utcoffset() == timedelta(hours=2)
    (game,) = await facts.games(now=datetime(2025, 3, 30, 12, tzinfo=berlin), game="berlin")
    assert game.next_draw_at == datetime(2025, 3, 31, 2, 30, tzinfo=berlin)
    # 02:30 happens twice on 26 October 2025: the first one counts
    (game,) = await facts.games(now=datetime(2025, 10, 25, 12, tzinfo=berlin), game="berlin")
    assert game.next_draw_at.astimezone(UTC) == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    # once the first 02:30 has passed, the next draw is the following night
    (game,) = await facts.games(now=datetime(2025, 10, 26, 0, 45, tzinfo=UTC), game="berlin")
    assert game.next_draw_at.astimezone(UTC) == datetime(2025, 10, 27, 1, 30, tzinfo=UTC)


# --- winning numbers ---------------------------------------------------------------------------


async def _numbers_in_db(sm, code: str, day: date) -> list[int]:
    async with sm() as s:
        rows = (await s.scalars(select(DrawRow).join(GameRow).where(GameRow.code == code))).all()
    (row,) = [r for r in rows if r.drawn_at.date() == day]
    return row.winning_numbers


async def test_latest_winning_numbers_of_each_game(sm):
    found = await facts_at(sm, SEEDED_AT).fetch(Lookup(WINNING_NUMBERS))
    draws = {d.game: d for d in found.draws}
    assert draws[SIX].drawn_at == msk(2025, 3, 1, 22)
    assert draws[LOTTO].drawn_at == msk(2025, 2, 23, 14)
    assert list(draws[SIX].numbers) == await _numbers_in_db(sm, "six_of_45", date(2025, 3, 1))
    assert list(draws[LOTTO].numbers) == await _numbers_in_db(
        sm, "russian_lotto", date(2025, 2, 23)
    )
    assert len(draws[SIX].numbers) == 6 and len(draws[LOTTO].numbers) == 15


async def test_latest_draw_before_tonights_draw_is_yesterdays(sm):
    found = await facts_at(sm, msk(2025, 3, 1, 21, 59)).fetch(Lookup(WINNING_NUMBERS, game=SIX))
    assert [d.drawn_at for d in found.draws] == [msk(2025, 2, 28, 22)]


async def test_winning_numbers_by_date(sm):
    facts = facts_at(sm, SEEDED_AT)
    found = await facts.fetch(Lookup(WINNING_NUMBERS, game=SIX, day=date(2025, 2, 20)))
    (draw,) = found.draws
    assert draw.drawn_at == msk(2025, 2, 20, 22)
    assert list(draw.numbers) == await _numbers_in_db(sm, "six_of_45", date(2025, 2, 20))
    # no Russian Lotto draw on a Saturday; only Six of Forty-Five answers for that day
    on_saturday = await facts.fetch(Lookup(WINNING_NUMBERS, day=date(2025, 2, 22)))
    assert [d.game for d in on_saturday.draws] == [SIX]
    assert (await facts.latest_draw("russian_lotto", day=date(2025, 2, 16))).drawn_at == msk(
        2025, 2, 16, 14
    )
    # the future has no results, nor a day before the data starts
    assert (await facts.fetch(Lookup(WINNING_NUMBERS, game=SIX, day=date(2025, 3, 5)))).draws == []
    assert (await facts.fetch(Lookup(WINNING_NUMBERS, game=SIX, day=date(2020, 1, 1)))).draws == []


# --- tickets -----------------------------------------------------------------------------------

EXPECTED_TICKETS = {
    # number: (game, draw time, won, prize)
    "123456": (SIX, msk(2025, 3, 1, 22), True, 5_000),
    "234567": (SIX, msk(2025, 3, 1, 22), False, None),
    "345678": (LOTTO, msk(2025, 2, 23, 14), True, 150_000),
    "456789": (LOTTO, msk(2025, 2, 16, 14), True, 2_000_000),
    "567890": (SIX, msk(2025, 2, 27, 22), True, 800),
}


def test_expected_tickets_cover_the_demo_tickets():
    assert {t.number for t in DEMO_TICKETS} == set(EXPECTED_TICKETS)


@pytest.mark.parametrize("number", sorted(EXPECTED_TICKETS))
async def test_each_demo_ticket(sm, number):
    game, draw_at, won, prize = EXPECTED_TICKETS[number]
    found = await facts_at(sm, SEEDED_AT).fetch(Lookup(CHECK_TICKET, ticket=number))
    t = found.ticket
    assert t is not None
    assert (t.number, t.game, t.draw_at, t.won, t.prize_amount, t.claimed) == (
        number, game, draw_at, won, prize, False,
    )  # fmt: skip
    if won:  # the rule for paying that prize comes along
        (rule,) = found.claim_rules
        assert rule.covers(prize)
    else:
        assert found.claim_rules == []


async def test_ticket_not_yet_drawn(sm):
    found = await facts_at(sm, msk(2025, 3, 1, 21, 30)).fetch(Lookup(CHECK_TICKET, ticket="123456"))
    assert found.ticket is not None
    assert found.ticket.won is False and found.ticket.prize_amount is None
    assert found.ticket.draw_at == msk(2025, 3, 1, 22)
    answer = compose(CHECK_TICKET, {"ticket": "123456"}, found, msk(2025, 3, 1, 21, 30))
    assert answer.sentences[0] == (
        "Ticket 1 2 3 4 5 6 takes part in the Six of Forty-Five draw today at 10 pm."
    )


async def test_claimed_ticket(sm):
    async with sm() as s, s.begin():
        await s.execute(update(TicketRow).where(TicketRow.number == "345678").values(claimed=True))
    found = await facts_at(sm, SEEDED_AT).fetch(Lookup(CHECK_TICKET, ticket="345678"))
    assert found.ticket is not None and found.ticket.claimed
    answer = compose(CHECK_TICKET, {"ticket": "345678"}, found, SEEDED_AT)
    assert "This prize has already been paid out." in answer.sentences


async def test_unknown_ticket(sm):
    facts = facts_at(sm, SEEDED_AT)
    assert (await facts.fetch(Lookup(CHECK_TICKET, ticket="999999"))).ticket is None
    assert await facts.ticket("12345") is None  # a prefix is not a match
    assert await facts.ticket(" 123456 ") is not None


# --- claim rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "band"),
    [
        (1, (1, 2_000)),
        (800, (1, 2_000)),
        (2_000, (1, 2_000)),
        (2_001, (2_001, 100_000)),
        (100_000, (2_001, 100_000)),
        (100_001, (100_001, 1_000_000)),
        (1_000_000, (100_001, 1_000_000)),
        (1_000_001, (1_000_001, None)),
        (50_000_000, (1_000_001, None)),
    ],
)
async def test_claim_rule_per_amount(sm, amount, band):
    (rule,) = await facts_at(sm, SEEDED_AT).claim_rules(amount)
    assert (rule.min_amount, rule.max_amount) == band


async def test_claim_rules_all_bands(sm):
    facts = facts_at(sm, SEEDED_AT)
    rules = (await facts.fetch(Lookup(CLAIM_WINNINGS))).claim_rules
    assert [(r.min_amount, r.max_amount) for r in rules] == [
        (1, 2_000), (2_001, 100_000), (100_001, 1_000_000), (1_000_001, None),
    ]  # fmt: skip
    assert rules[0].how.startswith("You can claim it at any lottery point of sale.")
    assert await facts.claim_rules(0) == []
