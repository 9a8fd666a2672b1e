"""The lottery database as the bot's and the IVR's source of facts (`lottery.answers.LotteryFacts`).

Draw times: the next draw is computed from each game's schedule (its own time zone, via zoneinfo),
never stored. Past draws are rows. SQLite keeps `DateTime(timezone=True)` values as wall-clock
text without an offset, and the demo data writes draw times in the game's time zone, so every
datetime bound into a draw query is first converted to the game's zone and every naive value read
back is taken to be in that zone. On PostgreSQL (timestamptz) the same code compares instants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lottery.answers import ClaimRule, Draw, Facts, Game, Lookup, TicketStatus
from lottery.questions import CHECK_TICKET, CLAIM_WINNINGS, NEXT_DRAW, WINNING_NUMBERS
from lottery.tables import DrawRow, GameRow, PrizeClaimRuleRow, TicketRow

__all__ = [
    "DbLotteryFacts",
    "DrawSchedule",
    "claim_rule_from_row",
]

Clock = Callable[[], datetime]

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class DrawSchedule:
    """A game's weekly draw schedule: {"timezone", "weekdays" (0=Monday), "time": "HH:MM"}."""

    def __init__(self, timezone: str, weekdays: Sequence[int], at: time) -> None:
        self.zone = ZoneInfo(timezone)
        self.weekdays = frozenset(int(d) for d in weekdays)
        self.at = at

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DrawSchedule:
        hh, mm = (int(part) for part in str(data["time"]).split(":"))
        return cls(str(data["timezone"]), data.get("weekdays") or [], time(hh, mm))

    def on_day(self, day: date) -> datetime | None:
        """The draw on a local calendar day, or None when the game is not drawn that day.

        A draw time that falls into a DST gap is moved forward by the gap (02:30 -> 03:30), the
        way a clock on the wall would read it; in a repeated hour the first occurrence counts.
        """
        if day.weekday() not in self.weekdays:
            return None
        wall = datetime.combine(day, self.at, tzinfo=self.zone)
        return wall.astimezone(UTC).astimezone(self.zone)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first draw strictly after `moment` (tz-aware), in the game's zone."""
        if not self.weekdays:
            return None
        start = moment.astimezone(self.zone).date()
        for offset in range(8):  # a weekly schedule repeats within 8 calendar days
            draw = self.on_day(start + timedelta(days=offset))
            # compare in UTC: aware datetimes sharing one tzinfo compare by wall clock
            if draw is not None and draw.astimezone(UTC) > moment.astimezone(UTC):
                return draw
        return None  # pragma: no cover - unreachable with a non-empty weekday set

    def describe(self) -> str:
        """ "every Sunday at 2 pm", "every day at 10 pm", "every Tuesday and Friday at 8 pm"."""
        at = _clock_words(self.at)
        days = sorted(self.weekdays)
        if len(days) == 7:
            return f"every day at {at}"
        if days == [0, 1, 2, 3, 4]:
            return f"every weekday at {at}"
        names = [_WEEKDAY_NAMES[d] for d in days]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"every {listed} at {at}"


def _clock_words(at: time) -> str:
    if at.minute == 0 and at.hour == 12:
        return "noon"
    if at.minute == 0 and at.hour == 0:
        return "midnight"
    hour = at.hour % 12 or 12
    suffix = "am" if at.hour < 12 else "pm"
    return f"{hour}:{at.minute:02d} {suffix}" if at.minute else f"{hour} {suffix}"


def claim_rule_from_row(row: PrizeClaimRuleRow) -> ClaimRule:
    return ClaimRule(
        min_amount=row.min_amount,
        max_amount=row.max_amount,
        how=f"You can claim it at {row.where}. {row.how}",
    )


class _GameInfo:
    __slots__ = ("code", "id", "name", "schedule")

    def __init__(self, row: GameRow) -> None:
        self.id = row.id
        self.name = row.name
        self.code = row.code
        self.schedule = DrawSchedule.from_json(row.schedule)

    @property
    def zone(self) -> ZoneInfo:
        return self.schedule.zone

    def local(self, moment: datetime) -> datetime:
        """A datetime read from the database, as an aware datetime in the game's zone."""
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self.zone)
        return moment.astimezone(self.zone)

    def matches(self, wanted: str) -> bool:
        w = wanted.strip().casefold()
        return w in (self.name.casefold(), self.code.casefold())


class DbLotteryFacts:
    """`LotteryFacts` over the hotline database. `clock` returns the current tz-aware time.

    Database errors propagate (SQLAlchemyError): the caller decides what a failed lookup means.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock

    async def fetch(self, lookup: Lookup) -> Facts:
        now = self._clock()
        async with self._sessionmaker() as s:
            if lookup.intent == CHECK_TICKET:
                if not lookup.ticket:
                    return Facts()
                return await self._ticket_facts(s, lookup.ticket)
            if lookup.intent == NEXT_DRAW:
                games = await self._games(s, lookup.game)
                return Facts(games=[self._game(g, now, lookup.day) for g in games])
            if lookup.intent == WINNING_NUMBERS:
                games = await self._games(s, lookup.game)
                draws = [await self._latest_draw(s, g, now, lookup.day) for g in games]
                return Facts(draws=[d for d in draws if d is not None])
            if lookup.intent == CLAIM_WINNINGS:
                return Facts(claim_rules=await self._claim_rules(s))
        return Facts()

    # --- direct queries (the IVR and tests use these too) --------------------------------------

    async def games(self, now: datetime | None = None, game: str | None = None) -> list[Game]:
        """Every game (or the one named) with its next draw after `now`."""
        when = now or self._clock()
        async with self._sessionmaker() as s:
            return [self._game(g, when) for g in await self._games(s, game)]

    async def latest_draw(
        self, game: str, now: datetime | None = None, day: date | None = None
    ) -> Draw | None:
        """The latest draw of `game` (name or code) up to `now`, on `day` if given."""
        when = now or self._clock()
        async with self._sessionmaker() as s:
            infos = await self._games(s, game)
            if not infos:
                return None
            return await self._latest_draw(s, infos[0], when, day)

    async def ticket(self, number: str) -> TicketStatus | None:
        async with self._sessionmaker() as s:
            return (await self._ticket_facts(s, number)).ticket

    async def claim_rules(self, amount: int | None = None) -> list[ClaimRule]:
        """All claim rules by amount band, or only the band covering `amount`."""
        async with self._sessionmaker() as s:
            return await self._claim_rules(s, amount)

    # --- internals ----------------------------------------------------------------------------

    @staticmethod
    async def _games(s: AsyncSession, wanted: str | None) -> list[_GameInfo]:
        rows = (await s.scalars(select(GameRow).order_by(GameRow.id))).all()
        infos = [_GameInfo(r) for r in rows]
        if wanted:
            return [g for g in infos if g.matches(wanted)]
        return infos

    @staticmethod
    def _game(info: _GameInfo, now: datetime, day: date | None = None) -> Game:
        after = now
        if day is not None:
            # "is there a draw on Saturday": the first draw from the start of that day, if later
            day_start = datetime.combine(day, time(0), tzinfo=info.zone) - timedelta(microseconds=1)
            after = max(now, day_start, key=lambda t: t.astimezone(UTC))
        return Game(
            name=info.name,
            schedule=info.schedule.describe(),
            next_draw_at=info.schedule.next_after(after),
        )

    @staticmethod
    async def _latest_draw(
        s: AsyncSession, info: _GameInfo, now: datetime, day: date | None
    ) -> Draw | None:
        query = select(DrawRow).where(
            DrawRow.game_id == info.id, DrawRow.drawn_at <= now.astimezone(info.zone)
        )
        if day is not None:
            start = datetime.combine(day, time(0), tzinfo=info.zone)
            end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=info.zone)
            query = query.where(DrawRow.drawn_at >= start, DrawRow.drawn_at < end)
        # draw numbers are sequential per game: the (game_id, number) unique index answers this
        # without sorting the game's history
        row = await s.scalar(query.order_by(DrawRow.number.desc()).limit(1))
        if row is None or not row.winning_numbers:
            return None
        return Draw(
            game=info.name,
            drawn_at=info.local(row.drawn_at),
            numbers=tuple(int(n) for n in row.winning_numbers),
        )

    async def _ticket_facts(self, s: AsyncSession, number: str) -> Facts:
        found = (
            await s.execute(
                select(TicketRow, DrawRow, GameRow)
                .join(DrawRow, DrawRow.id == TicketRow.draw_id)
                .join(GameRow, GameRow.id == TicketRow.game_id)
                .where(TicketRow.number == number.strip())
            )
        ).first()
        if found is None:
            return Facts()
        ticket, draw, game = found
        info = _GameInfo(game)
        draw_at = info.local(draw.drawn_at)
        drawn = draw_at.astimezone(UTC) <= self._clock().astimezone(UTC)
        won = drawn and ticket.prize_amount > 0
        status = TicketStatus(
            number=ticket.number,
            game=game.name,
            draw_at=draw_at,
            won=won,
            prize_amount=ticket.prize_amount if won else None,
            claimed=bool(ticket.claimed) if won else False,
        )
        rules = await self._claim_rules(s, ticket.prize_amount) if won else []
        return Facts(ticket=status, claim_rules=rules)

    @staticmethod
    async def _claim_rules(s: AsyncSession, amount: int | None = None) -> list[ClaimRule]:
        query = select(PrizeClaimRuleRow).order_by(PrizeClaimRuleRow.min_amount)
        if amount is not None:
            query = query.where(
                PrizeClaimRuleRow.min_amount <= amount,
                or_(PrizeClaimRuleRow.max_amount.is_(None), PrizeClaimRuleRow.max_amount >= amount),
            )
        return [claim_rule_from_row(r) for r in (await s.scalars(query)).all()]
