"""Demo data for an empty database: the demo directory and a year of lottery data.

Deterministic (seeded RNG) so tests can rely on the named demo tickets below.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from directory.file import DirectoryFile
from directory.tables import CallerRow, OperatorBackupRow, OperatorRow, TeamRow
from hotline.db.calls import CallRow
from lottery.tables import DrawRow, GameRow, PrizeClaimRuleRow, TicketRow

TZ = ZoneInfo("Europe/Moscow")

GAMES = [
    # Russian Lotto: weekly, Sundays at 14:00 Moscow time.
    dict(name="Russian Lotto", code="russian_lotto", weekdays=[6], at="14:00", drawn=15, max=90, price=150),
    # Six of Forty-Five: daily at 22:00 Moscow time.
    dict(name="Six of Forty-Five", code="six_of_45", weekdays=[0, 1, 2, 3, 4, 5, 6], at="22:00", drawn=6, max=45, price=100),
]

CLAIM_RULES = [
    (1, 2_000, "any lottery point of sale", "Show the ticket at the counter; the prize is paid in cash at once.", None),
    (2_001, 100_000, "a partner bank branch or the website", "Bring the ticket and your passport; the prize is paid to your bank account within 5 working days.", "passport, ticket"),
    (100_001, 1_000_000, "the company's head office", "Book a visit through the hotline; bring the ticket, your passport and your tax number. Paid by bank transfer within 30 days.", "passport, tax number, ticket"),
    (1_000_001, None, "the company's head office, by appointment", "A manager meets you in person; bring the ticket, passport and tax number. Tax is withheld as the law requires.", "passport, tax number, ticket"),
]


@dataclass(frozen=True)
class DemoTicket:
    number: str
    game: str
    prize: int
    draws_ago: int  # 0 = the latest draw of that game


# Named tickets the demo, docs and tests talk about.
DEMO_TICKETS = [
    DemoTicket("123456", "six_of_45", 5_000, 0),
    DemoTicket("234567", "six_of_45", 0, 0),
    DemoTicket("345678", "russian_lotto", 150_000, 0),
    DemoTicket("456789", "russian_lotto", 2_000_000, 1),
    DemoTicket("567890", "six_of_45", 800, 2),
]


def draw_times(weekdays: list[int], at: str, start: date, end: datetime) -> list[datetime]:
    hh, mm = (int(x) for x in at.split(":"))
    out = []
    d = start
    while True:
        t = datetime.combine(d, time(hh, mm), TZ)
        if t > end:
            break
        if d.weekday() in weekdays:
            out.append(t)
        d += timedelta(days=1)
    return out


async def is_empty(sm: async_sessionmaker[AsyncSession]) -> bool:
    async with sm() as s:
        return (await s.scalar(select(func.count()).select_from(OperatorRow))) == 0


async def load_directory(s: AsyncSession, d: DirectoryFile, now: datetime) -> None:
    teams = {t.name: TeamRow(name=t.name) for t in d.teams}
    s.add_all(teams.values())
    ops = {
        o.extension: OperatorRow(
            name=o.name, extension=o.extension, sip_password=o.password, role=o.role,
            team_id=None,
        )
        for o in d.operators
    }
    s.add_all(ops.values())
    await s.flush()
    for o in d.operators:
        row = ops[o.extension]
        row.team_id = teams[o.team].id if o.team else None
        for i, b in enumerate(o.backups):
            s.add(OperatorBackupRow(operator_id=row.id, backup_id=ops[b].id, position=i))
    for t in d.teams:
        teams[t.name].lead_id = ops[t.lead].id if t.lead else None
    callers = {
        c.number: CallerRow(
            number=c.number, name=c.name, vip=c.vip,
            personal_manager_id=ops[c.manager].id if c.manager else None, language=c.language,
        )
        for c in d.callers
    }
    s.add_all(callers.values())
    await s.flush()
    for i, pc in enumerate(d.past_calls):
        started = now - timedelta(days=pc.days_ago)
        s.add(CallRow(
            uniqueid=f"demo-past-{i}", caller_number=pc.caller, caller_id_raw=pc.caller,
            caller_name=callers[pc.caller].name, caller_ref_id=callers[pc.caller].id,
            started_at=started, answered_at=started + timedelta(seconds=40),
            ended_at=started + timedelta(minutes=4), outcome="answered",
            answered_by_id=ops[pc.answered_by].id, intent=pc.intent, path=[],
        ))


async def load_lottery(s: AsyncSession, now: datetime, seed: int = 45) -> None:
    rng = random.Random(seed)
    start = (now - timedelta(days=365)).astimezone(TZ).date()
    latest: dict[str, list[DrawRow]] = {}
    game_rows: dict[str, GameRow] = {}
    for g in GAMES:
        row = GameRow(
            name=g["name"], code=g["code"],
            schedule={"timezone": str(TZ), "weekdays": g["weekdays"], "time": g["at"]},
            numbers_drawn=g["drawn"], number_max=g["max"], ticket_price=g["price"],
        )
        s.add(row)
        await s.flush()
        game_rows[g["code"]] = row
        draws = []
        for n, t in enumerate(draw_times(g["weekdays"], g["at"], start, now), start=1):
            nums = sorted(rng.sample(range(1, g["max"] + 1), g["drawn"]))
            draws.append(DrawRow(game_id=row.id, number=n, drawn_at=t, winning_numbers=nums))
        s.add_all(draws)
        latest[g["code"]] = draws
    await s.flush()
    used = set()
    for t in DEMO_TICKETS:
        draws = latest[t.game]
        draw = draws[-1 - t.draws_ago]
        g = game_rows[t.game]
        nums = sorted(rng.sample(range(1, g.number_max + 1), g.numbers_drawn))
        s.add(TicketRow(number=t.number, game_id=g.id, draw_id=draw.id, numbers=nums, prize_amount=t.prize))
        used.add(t.number)
    # Background tickets: mostly losers, some small prizes.
    for _ in range(400):
        code = rng.choice(list(latest))
        g, draw = game_rows[code], rng.choice(latest[code][-60:])
        num = f"{rng.randrange(10**7, 10**8)}"
        if num in used:
            continue
        used.add(num)
        prize = rng.choice([0] * 8 + [100, 500, 1_500, 25_000])
        nums = sorted(rng.sample(range(1, g.number_max + 1), g.numbers_drawn))
        s.add(TicketRow(number=num, game_id=g.id, draw_id=draw.id, numbers=nums, prize_amount=prize))
    for lo, hi, where, how, docs in CLAIM_RULES:
        s.add(PrizeClaimRuleRow(min_amount=lo, max_amount=hi, where=where, how=how, documents=docs))


async def seed_if_empty(
    sm: async_sessionmaker[AsyncSession], directory: DirectoryFile, now: datetime
) -> bool:
    """Load the demo directory and lottery data into an empty database; True if it did."""
    if not await is_empty(sm):
        return False
    async with sm() as s, s.begin():
        await load_directory(s, directory, now)
        await load_lottery(s, now)
    return True
