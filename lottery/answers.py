"""Answer composition: (intent, slots, facts, now) -> sentences to speak, pure.

Answers are lists of short sentences so TTS can synthesize them one at a time and the caller hears
the first one early. The database adapter fills the plain dataclasses below; nothing here does
I/O. When a needed slot is missing the answer is a follow-up question plus a `needs` marker that
the dialog uses as context for the caller's next utterance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from lottery.questions import (
    CHECK_TICKET,
    CLAIM_WINNINGS,
    NEXT_DRAW,
    OPERATOR,
    WINNING_NUMBERS,
)

__all__ = [
    "Answer",
    "ClaimRule",
    "Draw",
    "Facts",
    "Game",
    "LotteryFacts",
    "Lookup",
    "TicketStatus",
    "compose",
    "format_amount",
    "format_date",
    "format_when",
    "lookup_for",
    "spell_ticket",
]

Amount = int | Decimal


@dataclass(frozen=True, slots=True)
class Game:
    name: str
    schedule: str  # e.g. "every Sunday at 2 pm"
    next_draw_at: datetime | None  # tz-aware, in the hotline's local time zone


@dataclass(frozen=True, slots=True)
class Draw:
    game: str
    drawn_at: datetime
    numbers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TicketStatus:
    number: str
    game: str
    draw_at: datetime
    won: bool
    prize_amount: Amount | None = None
    currency: str = "RUB"
    claimed: bool = False


@dataclass(frozen=True, slots=True)
class ClaimRule:
    """How prizes in [min_amount, max_amount] are paid; max_amount None means no upper limit."""

    min_amount: Amount
    max_amount: Amount | None
    how: str  # a full sentence, e.g. "Show your ticket at any lottery kiosk."
    currency: str = "RUB"

    def covers(self, amount: Amount) -> bool:
        return self.min_amount <= amount and (self.max_amount is None or amount <= self.max_amount)


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the adapter must fetch to answer; built by `lookup_for`."""

    intent: str
    ticket: str | None = None
    game: str | None = None
    day: date | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the adapter found for one `Lookup`; empty fields mean "not found"."""

    games: Sequence[Game] = ()
    draws: Sequence[Draw] = ()
    ticket: TicketStatus | None = None
    claim_rules: Sequence[ClaimRule] = ()


class LotteryFacts(Protocol):
    """The database adapter: fetch the facts a `Lookup` asks for."""

    async def fetch(self, lookup: Lookup) -> Facts: ...


@dataclass(frozen=True, slots=True)
class Answer:
    sentences: list[str]
    needs: str | None = None  # slot the bot asked for: "ticket", "game"
    slots: dict[str, Any] = field(default_factory=dict)  # what the answer was about


# --- wording ----------------------------------------------------------------------------------

CURRENCY_WORDS = {
    "RUB": ("ruble", "rubles"),
    "USD": ("dollar", "dollars"),
    "EUR": ("euro", "euros"),
}


def format_amount(amount: Amount, currency: str = "RUB") -> str:
    """5000 -> "5,000 rubles"; Decimal("12.50") -> "12.50 rubles"."""
    one, many = CURRENCY_WORDS.get(currency, (currency, currency))
    if isinstance(amount, Decimal) and amount != amount.to_integral_value():
        text = f"{amount:,.2f}"
    else:
        text = f"{int(amount):,}"
    return f"{text} {one if amount == 1 else many}"


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip


def format_date(day: date) -> str:
    """ "Saturday, 28 November" (English regardless of the process locale)."""
    return f"{_WEEKDAYS[day.weekday()]}, {day.day} {_MONTHS[day.month - 1]}"


def _clock(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    suffix = "am" if moment.hour < 12 else "pm"
    if moment.minute:
        return f"{hour}:{moment.minute:02d} {suffix}"
    if moment.hour == 12:
        return "noon"
    if moment.hour == 0:
        return "midnight"
    return f"{hour} {suffix}"


def format_when(moment: datetime, now: datetime | None = None) -> str:
    """ "Saturday, 28 November at 8 pm"; "today at 8 pm" / "tomorrow at 8 pm" near `now`."""
    if now is not None:
        local_now = now.astimezone(moment.tzinfo) if moment.tzinfo else now
        delta = (moment.date() - local_now.date()).days
        if delta == 0:
            return f"today at {_clock(moment)}"
        if delta == 1:
            return f"tomorrow at {_clock(moment)}"
    return f"{format_date(moment.date())} at {_clock(moment)}"


def _on(when: str) -> str:
    return when if when.startswith(("today", "tomorrow")) else f"on {when}"


def spell_ticket(number: str) -> str:
    """Read a ticket number digit by digit: "1 2 3 4 5 6"."""
    return " ".join(number)


def _list_numbers(numbers: Sequence[int]) -> str:
    items = [str(n) for n in numbers]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


NUMBERS_PER_SENTENCE = 10

HELP = (
    "You can ask me to check a ticket, when the next draw is, the winning numbers, "
    "or how to claim a prize. Or say operator to talk to a person."
)


# --- composition ------------------------------------------------------------------------------


def lookup_for(intent: str, slots: dict[str, Any]) -> Lookup | None:
    """The facts needed to answer, or None when no lookup is needed (or a slot is missing)."""
    if intent == CHECK_TICKET:
        if not slots.get("ticket"):
            return None
        return Lookup(intent, ticket=slots["ticket"])
    if intent in (NEXT_DRAW, WINNING_NUMBERS):
        return Lookup(intent, game=slots.get("game"), day=slots.get("date"))
    if intent == CLAIM_WINNINGS:
        return Lookup(intent)
    return None


def compose(intent: str, slots: dict[str, Any], facts: Facts | None, now: datetime) -> Answer:
    if intent == CHECK_TICKET:
        return _check_ticket(slots, facts or Facts(), now)
    if intent == NEXT_DRAW:
        return _next_draw(slots, facts or Facts(), now)
    if intent == WINNING_NUMBERS:
        return _winning_numbers(slots, facts or Facts(), now)
    if intent == CLAIM_WINNINGS:
        return _claim(slots, facts or Facts())
    if intent == OPERATOR:
        return Answer(["Connecting you to an operator. Please stay on the line."])
    return Answer(["Sorry, I did not catch that.", HELP])


def _check_ticket(slots: dict[str, Any], facts: Facts, now: datetime) -> Answer:
    number = slots.get("ticket")
    if not number:
        return Answer(
            ["Please tell me your ticket number, or key it in and press the hash key."],
            needs="ticket",
        )
    status = facts.ticket
    if status is None or status.number != number:
        return Answer(
            [
                f"I could not find ticket {spell_ticket(number)}.",
                "Please check the number and say it again, or key it in and press the hash key.",
            ],
            needs="ticket",
            slots={"ticket": number},
        )
    about = {"ticket": number, "game": status.game}
    draw = f"the {status.game} draw on {format_date(status.draw_at.date())}"
    if status.draw_at > now:
        return Answer(
            [
                f"Ticket {spell_ticket(number)} takes part in the {status.game} draw "
                f"{_on(format_when(status.draw_at, now))}.",
                "Please call again after the draw.",
            ],
            slots=about,
        )
    if not status.won:
        return Answer(
            [f"Ticket {spell_ticket(number)} did not win in {draw}.", "Better luck next time!"],
            slots=about,
        )
    sentences = [f"Congratulations! Ticket {spell_ticket(number)} won in {draw}."]
    if status.prize_amount is not None:
        prize = format_amount(status.prize_amount, status.currency)
        sentences.append(f"Your prize is {prize}.")
        about["amount"] = status.prize_amount
    if status.claimed:
        sentences.append("This prize has already been paid out.")
        return Answer(sentences, slots=about)
    rule = _rule_for(facts.claim_rules, status.prize_amount)
    if rule is not None:
        sentences.append(rule.how)
    return Answer(sentences, slots=about)


def _rule_for(rules: Sequence[ClaimRule], amount: Amount | None) -> ClaimRule | None:
    if amount is None:
        return None
    return next((r for r in rules if r.covers(amount)), None)


def _next_draw(slots: dict[str, Any], facts: Facts, now: datetime) -> Answer:
    wanted = slots.get("game")
    day: date | None = slots.get("date")
    games = [g for g in facts.games if wanted is None or g.name == wanted]
    if not games:
        if wanted:
            return Answer([f"Sorry, I have no schedule for {wanted} at the moment."])
        return Answer(["Sorry, I have no draw schedule at the moment."])
    sentences: list[str] = []
    for game in games:
        upcoming = game.next_draw_at
        if upcoming is None or upcoming < now:
            sentences.append(f"No {game.name} draw is scheduled yet. It is drawn {game.schedule}.")
            continue
        if day is not None and upcoming.date() != day:
            sentences.append(
                f"There is no {game.name} draw on {format_date(day)}. "
                f"The next one is {format_when(upcoming, now)}."
            )
            continue
        sentences.append(f"The next {game.name} draw is {format_when(upcoming, now)}.")
        if wanted:
            sentences.append(f"{game.name} is drawn {game.schedule}.")
    return Answer(sentences, slots={k: v for k, v in slots.items() if k in ("game", "date")})


def _winning_numbers(slots: dict[str, Any], facts: Facts, now: datetime) -> Answer:
    wanted = slots.get("game")
    day: date | None = slots.get("date")
    if wanted is None and len({g.name for g in facts.games} | {d.game for d in facts.draws}) > 1:
        names = sorted({g.name for g in facts.games} | {d.game for d in facts.draws})
        return Answer(
            [f"Which game: {' or '.join(names)}?"],
            needs="game",
            slots={"date": day} if day else {},
        )
    draws = [
        d
        for d in facts.draws
        if (wanted is None or d.game == wanted)
        and (day is None or d.drawn_at.date() == day)
        and d.drawn_at <= now
    ]
    if not draws:
        what = wanted or "that game"
        when = f" on {format_date(day)}" if day else ""
        return Answer([f"I have no {what} results{when}."], slots=dict(slots))
    draw = max(draws, key=lambda d: d.drawn_at)
    numbers = list(draw.numbers)
    head = f"The winning numbers of the {draw.game} draw on {format_date(draw.drawn_at.date())}"
    if len(numbers) <= NUMBERS_PER_SENTENCE:
        sentences = [f"{head} are {_list_numbers(numbers)}."]
    else:
        sentences = [f"{head} are:"]
        for start in range(0, len(numbers), NUMBERS_PER_SENTENCE):
            chunk = numbers[start : start + NUMBERS_PER_SENTENCE]
            sentences.append(", ".join(str(n) for n in chunk) + ".")
    return Answer(sentences, slots={"game": draw.game, "date": draw.drawn_at.date()})


def _claim(slots: dict[str, Any], facts: Facts) -> Answer:
    amount: Amount | None = slots.get("amount")
    rules = sorted(facts.claim_rules, key=lambda r: r.min_amount)
    if not rules:
        return Answer(["Sorry, I cannot tell you how to claim prizes right now."])
    if amount is not None:
        rule = _rule_for(rules, amount)
        if rule is None:
            return Answer(
                [
                    f"For a prize of {format_amount(amount, rules[0].currency)}, "
                    "please talk to an operator."
                ],  # fmt: skip
                slots={"amount": amount},
            )
        return Answer(
            [f"For a prize of {format_amount(amount, rule.currency)}: {rule.how}"],
            slots={"amount": amount},
        )
    sentences = []
    for rule in rules:
        low = format_amount(rule.min_amount, rule.currency)
        if rule.max_amount is None:
            scope = f"For prizes of {low} or more"
        elif rule.min_amount <= 1:
            scope = f"For prizes up to {format_amount(rule.max_amount, rule.currency)}"
        else:
            scope = f"For prizes from {low} to {format_amount(rule.max_amount, rule.currency)}"
        sentences.append(f"{scope}: {rule.how}")
    return Answer(sentences)
