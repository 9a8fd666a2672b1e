"""The standard questions a lottery hotline answers, by name, and the games it knows.

Shared by the voice bot (which recognises them in speech) and the IVR (whose `answer` nodes look
them up by key), so neither imports the other for a name.
"""

from __future__ import annotations

CHECK_TICKET = "check_ticket"
NEXT_DRAW = "next_draw"
WINNING_NUMBERS = "winning_numbers"
CLAIM_WINNINGS = "claim_winnings"
OPERATOR = "operator"  # not a question: the caller wants a person
QUESTIONS = (CHECK_TICKET, NEXT_DRAW, WINNING_NUMBERS, CLAIM_WINNINGS)

RUSSIAN_LOTTO = "Russian Lotto"
SIX_OF_45 = "Six of Forty-Five"
GAMES = (RUSSIAN_LOTTO, SIX_OF_45)
