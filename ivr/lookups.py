"""Answer the IVR's `answer` nodes from the lottery database, in the voice bot's words.

The IVR machine emits `Lookup(query, args, language)`; this turns it into the sentence the caller
hears by going through `lottery.answers.compose`, so a caller pressing keys and a caller talking
to the bot hear the same answer. Answers are English for now, whatever the call's language.

Returns None only when the database fails; the IVR then takes the node's `on_error` path.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog

from ivr.machine import Lookup as IvrLookup
from lottery import answers
from lottery.answers import Facts, LotteryFacts
from lottery.questions import CHECK_TICKET, CLAIM_WINNINGS, NEXT_DRAW, WINNING_NUMBERS

__all__ = ["QUERY_INTENTS", "answer_lookup"]

log = structlog.get_logger("ivr.lookups")

QUERY_INTENTS = {
    "ticket_status": CHECK_TICKET,
    "next_draw": NEXT_DRAW,
    "winning_numbers": WINNING_NUMBERS,
    "claim_rules": CLAIM_WINNINGS,
}


async def answer_lookup(effect: IvrLookup, facts: LotteryFacts, now: datetime) -> str | None:
    """The text to say for one IVR lookup; None when the lookup could not be made."""
    intent = QUERY_INTENTS.get(effect.query)
    if intent is None:
        log.warning("ivr.lookup_unknown_query", query=effect.query)
        return None
    slots = _slots(effect.args)
    try:
        sentences = await _sentences(intent, slots, facts, now)
    except Exception:  # the IVR must keep going: its fallback path takes over
        log.exception("ivr.lookup_failed", query=effect.query)
        return None
    return " ".join(sentences)


async def _sentences(
    intent: str, slots: dict[str, Any], facts: LotteryFacts, now: datetime
) -> list[str]:
    lookup = answers.lookup_for(intent, slots)
    found: Facts | None = await facts.fetch(lookup) if lookup is not None else None
    if found is not None and intent in (NEXT_DRAW, WINNING_NUMBERS):
        names = list(dict.fromkeys([g.name for g in found.games] + [d.game for d in found.draws]))
        if slots.get("game") and len(names) == 1:
            slots = {**slots, "game": names[0]}  # a game code from the dialplan, by its name
        elif intent == WINNING_NUMBERS and not slots.get("game") and len(names) > 1:
            # no follow-up question on a keypad: read every game's latest numbers
            return [
                sentence
                for name in names
                for sentence in answers.compose(
                    intent, {**slots, "game": name}, found, now
                ).sentences
            ]
    return answers.compose(intent, slots, found, now).sentences


def _slots(args: Any) -> dict[str, Any]:
    """Dialplan arguments (strings after variable substitution) as the bot's slots."""
    slots: dict[str, Any] = {}
    ticket = "".join(ch for ch in str(args.get("ticket", "")) if ch.isdigit())
    if ticket:
        slots["ticket"] = ticket
    game = str(args.get("game", "")).strip()
    if game:
        slots["game"] = game
    day = str(args.get("date", "")).strip()
    if day:
        try:
            slots["date"] = date.fromisoformat(day)
        except ValueError:
            log.warning("ivr.lookup_bad_date", date=day)
    amount = str(args.get("amount", "")).strip().replace(",", "").replace(" ", "")
    if amount:
        try:
            value = Decimal(amount)
        except InvalidOperation:
            log.warning("ivr.lookup_bad_amount", amount=amount)
        else:
            slots["amount"] = int(value) if value == value.to_integral_value() else value
    return slots
