"""IVR `answer` nodes: ivr.lookups.answer_lookup over DbLotteryFacts on a seeded SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest

from hotline.db.base import make_engine, make_sessionmaker
from ivr.lookups import answer_lookup
from ivr.machine import Lookup as IvrLookup
from lottery.answers import Facts, Lookup
from lottery.facts import DbLotteryFacts
from tests.support.databases import DbBackend, Seed
from tests.support.seeded_db import copy_of, make_seeded

pytestmark = pytest.mark.component

MSK = ZoneInfo("Europe/Moscow")
SEEDED_AT = datetime(2025, 3, 1, 19, 30, tzinfo=UTC)  # Saturday 22:30 in Moscow


@pytest.fixture(scope="module")
def seeded(db_backend: DbBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    with make_seeded(db_backend, tmp_path_factory, "lottery_ivr", SEEDED_AT) as seed:
        yield seed


@pytest.fixture
async def db(db_backend: DbBackend, seeded: Seed, tmp_path: Path):
    async with copy_of(db_backend, seeded, tmp_path) as sessionmaker:
        yield sessionmaker


def lookup(query: str, **args: str) -> IvrLookup:
    return IvrLookup(query, MappingProxyType(args), "en")


async def say(source, query: str, now: datetime = SEEDED_AT, **args: str) -> str | None:
    """`source` is a sessionmaker (facts on that clock) or a ready LotteryFacts."""
    facts = source if hasattr(source, "fetch") else DbLotteryFacts(source, lambda: now)
    return await answer_lookup(lookup(query, **args), facts, now)


async def test_ticket_won(db):
    text = await say(db, "ticket_status", ticket="123456")
    assert text is not None
    assert text.startswith(
        "Congratulations! Ticket 1 2 3 4 5 6 won in the Six of Forty-Five draw on Saturday, 1 March."
        " Your prize is 5,000 rubles. You can claim it at a partner bank branch or the website."
    )


async def test_ticket_lost(db):
    assert await say(db, "ticket_status", ticket="234567") == (
        "Ticket 2 3 4 5 6 7 did not win in the Six of Forty-Five draw on Saturday, 1 March."
        " Better luck next time!"
    )


async def test_big_prize_ticket(db):
    text = await say(db, "ticket_status", ticket="456789")
    assert "Your prize is 2,000,000 rubles." in text
    assert "head office, by appointment" in text


async def test_unknown_ticket_is_a_sentence_not_an_error(db):
    text = await say(db, "ticket_status", ticket="999999")
    assert text is not None and text.startswith("I could not find ticket 9 9 9 9 9 9.")


async def test_ticket_with_separators_keyed_or_rendered(db):
    text = await say(db, "ticket_status", ticket="123 456")
    assert text is not None and "Ticket 1 2 3 4 5 6 won" in text


async def test_next_draw_all_games(db):
    text = await say(db, "next_draw", now=datetime(2025, 3, 1, 21, tzinfo=MSK))
    assert text == (
        "The next Russian Lotto draw is tomorrow at 2 pm."
        " The next Six of Forty-Five draw is today at 10 pm."
    )


async def test_next_draw_of_one_game_by_code(db):
    text = await say(db, "next_draw", now=datetime(2025, 3, 2, 15, tzinfo=MSK),
                     game="russian_lotto")  # fmt: skip
    assert text == (
        "The next Russian Lotto draw is Sunday, 9 March at 2 pm."
        " Russian Lotto is drawn every Sunday at 2 pm."
    )


async def test_winning_numbers_without_a_game_reads_every_game(db):
    text = await say(db, "winning_numbers")
    assert text is not None
    assert "The winning numbers of the Russian Lotto draw on Sunday, 23 February are:" in text
    assert "The winning numbers of the Six of Forty-Five draw on Saturday, 1 March are " in text
    assert "Which game" not in text


async def test_winning_numbers_of_one_game_on_a_date(db):
    text = await say(db, "winning_numbers", game="six_of_45", date="2025-02-20")
    assert text is not None
    assert text.startswith(
        "The winning numbers of the Six of Forty-Five draw on Thursday, 20 February are "
    )
    nothing = await say(db, "winning_numbers", game="Six of Forty-Five", date="2025-03-09")
    assert nothing == "I have no Six of Forty-Five results on Sunday, 9 March."


async def test_claim_rules_for_an_amount_and_all(db):
    assert await say(db, "claim_rules", amount="5000") == (
        "For a prize of 5,000 rubles: You can claim it at a partner bank branch or the website."
        " Bring the ticket and your passport; the prize is paid to your bank account within 5"
        " working days."
    )
    text = await say(db, "claim_rules")
    assert text is not None
    assert text.startswith("For prizes up to 2,000 rubles: You can claim it at any lottery point")
    assert "For prizes of 1,000,001 rubles or more:" in text


async def test_database_failure_gives_none(tmp_path, db_backend: DbBackend):
    async with db_backend.empty(tmp_path) as url:  # no tables
        engine = make_engine(url)
        try:
            broken = make_sessionmaker(engine)
            assert await say(broken, "ticket_status", ticket="123456") is None
            assert await say(broken, "next_draw") is None
        finally:
            await engine.dispose()


async def test_failing_facts_and_unknown_query_give_none():
    class Down:
        async def fetch(self, lookup: Lookup) -> Facts:
            raise ConnectionError("database is down")

    assert await say(Down(), "claim_rules") is None
    assert await say(Down(), "horoscope") is None
