"""Intent and slot understanding for the hotline bot, pure.

Input is ASR output (lowercase, no punctuation, fillers, misheard words) or typed text; output is
an `Understanding`. Matching is weighted phrase patterns rather than a model: the domain is small,
the behaviour must be explainable to QA staff, and the same phrase lists feed the ASR grammar
(`vocabulary()`) and the generated test set (`sample_sentences()`).

Slots are extracted before intent scoring and their words removed, so "six of forty five" is a
game and never part of a ticket number, and "march 3rd" is a date and never an amount.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from lottery.questions import (
    CHECK_TICKET,
    CLAIM_WINNINGS,
    GAMES,
    NEXT_DRAW,
    OPERATOR,
    QUESTIONS,
    RUSSIAN_LOTTO,
    SIX_OF_45,
    WINNING_NUMBERS,
)
from voicebot.numbers import (
    DIGIT_HOMOPHONES,
    DIGIT_WORDS,
    NUMBER_WORDS,
    ORDINALS,
    REPEATS,
    SCALES,
    TENS,
    UNITS,
    number_to_words,
    parse_cardinal,
    parse_ordinal,
)

__all__ = [
    "AFFIRM",
    "CHECK_TICKET",
    "CHOICE_LABELS",
    "CLAIM_WINNINGS",
    "DENY",
    "GAMES",
    "INTENTS",
    "NEXT_DRAW",
    "OPERATOR",
    "UNKNOWN",
    "WINNING_NUMBERS",
    "DialogContext",
    "choose",
    "Understanding",
    "normalize",
    "sample_sentences",
    "sure",
    "understand",
    "vocabulary",
    "warm_up",
]

UNKNOWN = "unknown"
# answers to the bot's own yes/no questions ("Shall I put you through?")
AFFIRM = "affirm"
DENY = "deny"
INTENTS = (CHECK_TICKET, NEXT_DRAW, WINNING_NUMBERS, CLAIM_WINNINGS, OPERATOR, AFFIRM, DENY,
           UNKNOWN)  # fmt: skip

MIN_TICKET_DIGITS = 4
MAX_TICKET_DIGITS = 20


@dataclass(frozen=True, slots=True)
class DialogContext:
    """What the dialog knows when the caller speaks.

    `today` anchors relative dates; `expecting` is the slot the bot just asked for ("ticket",
    "game", "date", "confirm"); `last_intent` lets a bare answer ("russian lotto") continue it.
    """

    today: date | None = None
    expecting: str | None = None
    last_intent: str | None = None


@dataclass(frozen=True, slots=True)
class Understanding:
    """`by`: "patterns" (the weighted phrases below) or "model" (voicebot.intent_model, the
    fallback when the patterns understood nothing: a guess the two-pass recogniser checks)."""

    intent: str
    slots: dict[str, Any] = field(default_factory=dict)
    confidence: float = 0.0
    by: str = "patterns"
    # two questions the sentence is nearly equally about, best first ("the next draw results"):
    # the dialog asks which one when it cannot answer (voicebot.dialog)
    alternatives: tuple[str, ...] = ()


# --- normalization ----------------------------------------------------------------------------

FILLERS = frozenset("um umm uh uhh uhm er erm ah ahh hmm hm mm mhm please pls kindly".split())
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DOTTED_DATE = re.compile(r"\b(\d{1,2})[./](\d{1,2})[./](\d{4})\b")
_THOUSANDS = re.compile(r"(?<=\d)[, ](?=\d{3}\b)")
_GAME_SLASH = re.compile(r"\b(\d{1,2})\s*/\s*(\d{2})\b")


def normalize(text: str) -> str:
    """Lowercase, drop punctuation and fillers; keep digits, decimal points and words."""
    text = text.lower()
    text = _THOUSANDS.sub("", text)
    text = _GAME_SLASH.sub(r"\1 of \2", text)
    text = text.replace("'", "").replace("\u2019", "")
    text = re.sub(r"(?<=\d)\.(?=\d)", "\x00", text)
    text = re.sub(r"[^a-z0-9\x00]+", " ", text).replace("\x00", ".")
    return " ".join(t for t in text.split() if t not in FILLERS)


# --- games ------------------------------------------------------------------------------------

_GAME_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"\b(?:the )?(?:russian|russia|rushin|rushing|russians) (?:lotto|loto|lotta|lottery|lot|lotter|lotte|lottie|lotto game)\b"
        ),
        RUSSIAN_LOTTO,
    ),  # noqa: E501
    (
        re.compile(
            r"\b(?:the )?(?:six|6|sex|sticks) (?:of|from|out of|off|in|by|oh)? ?(?:forty five|fourty five|45|forty fives|for tea five)\b"
        ),
        SIX_OF_45,
    ),  # noqa: E501
    (re.compile(r"\b645\b"), SIX_OF_45),
]


def _extract_game(text: str) -> tuple[str | None, str]:
    for pattern, name in _GAME_PATTERNS:
        match = pattern.search(text)
        if match:
            return name, " ".join(
                (text[: match.start()] + " thegame " + text[match.end() :]).split()
            )
    return None, text


# --- dates ------------------------------------------------------------------------------------

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
MONTHS.pop("may", None)  # "may" is matched only next to a day number (see _month_at)
WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}


@dataclass(frozen=True, slots=True)
class _DateSpec:
    """A date as said; resolved later when the intent (past or future) is known."""

    kind: str  # "absolute" | "offset" | "weekday" | "monthday"
    value: tuple[int, ...]


def _month_at(tokens: list[str], i: int) -> int | None:
    if i >= len(tokens):
        return None
    if tokens[i] == "may":
        return 5
    return MONTHS.get(tokens[i])


def _extract_date(tokens: list[str], used: list[bool]) -> _DateSpec | None:
    n = len(tokens)

    def take(a: int, b: int) -> None:
        for k in range(a, b):
            used[k] = True

    for i, tok in enumerate(tokens):
        if used[i]:
            continue
        nxt = tokens[i + 1] if i + 1 < n else ""
        if tok in ("today", "tonight", "tonights", "todays"):
            take(i, i + 1)
            return _DateSpec("offset", (0,))
        if tok == "the" and nxt == "day" and tokens[i + 2 : i + 5] == ["before", "yesterday"]:
            take(i, i + 4)
            return _DateSpec("offset", (-2,))
        if tok == "day" and tokens[i + 1 : i + 3] == ["before", "yesterday"]:
            take(i, i + 3)
            return _DateSpec("offset", (-2,))
        if tok in ("yesterday", "yesterdays"):
            take(i, i + 1)
            return _DateSpec("offset", (-1,))
        if tok == "tomorrow" or tok == "tomorrows":
            take(i, i + 1)
            return _DateSpec("offset", (1,))
        if tok in WEEKDAYS or (tok.endswith("s") and tok[:-1] in WEEKDAYS):
            weekday = WEEKDAYS[tok if tok in WEEKDAYS else tok[:-1]]
            mode = 0
            start = i
            prev = tokens[i - 1] if i > 0 and not used[i - 1] else ""
            if prev in ("last", "past", "previous"):
                mode, start = -1, i - 1
            elif prev in ("next", "coming"):
                mode, start = 1, i - 1
            elif prev == "this":
                mode, start = 2, i - 1
            take(start, i + 1)
            return _DateSpec("weekday", (weekday, mode))
        # "3 days ago", "three days ago"
        if tokens[i + 1 : i + 3] in (["days", "ago"], ["day", "ago"]):
            count = int(tok) if tok.isdigit() else UNITS.get(tok, 1 if tok == "a" else -1)
            if count >= 0:
                take(i, i + 3)
                return _DateSpec("offset", (-count,))
        # "march 3rd [2024]", "march the third"
        month = _month_at(tokens, i)
        if month is not None:
            j = i + 1
            if j < n and tokens[j] == "the":
                j += 1
            day = parse_ordinal(tokens, j)
            if day and 1 <= day[0] <= 31:
                end = day[1]
                year = _year_at(tokens, end)
                if year:
                    take(i, end + 1)
                    return _DateSpec("absolute", (year, month, day[0]))
                take(i, end)
                return _DateSpec("monthday", (month, day[0]))
        # "the third of march", "3rd of march", "3 march"
        day = parse_ordinal(tokens, i + 1 if tok == "the" else i)
        if day and 1 <= day[0] <= 31 and (tok == "the" or _looks_like_day(tok)):
            j = day[1]
            if j < n and tokens[j] == "of":
                j += 1
            month = _month_at(tokens, j)
            if month is not None:
                end = j + 1
                year = _year_at(tokens, end)
                if year:
                    take(i, end + 1)
                    return _DateSpec("absolute", (year, month, day[0]))
                take(i, end)
                return _DateSpec("monthday", (month, day[0]))
    return None


def _looks_like_day(tok: str) -> bool:
    return tok.isdigit() or tok[:-2].isdigit() or tok in ORDINALS or tok in TENS


def _year_at(tokens: list[str], i: int) -> int | None:
    if i < len(tokens) and tokens[i].isdigit() and len(tokens[i]) == 4:
        return int(tokens[i])
    return None


def _resolve_date(spec: _DateSpec, today: date | None, future: bool) -> date | None:
    if spec.kind == "absolute":
        y, m, d = spec.value
        return _safe_date(y, m, d)
    if today is None:
        return None
    if spec.kind == "offset":
        return today + timedelta(days=spec.value[0])
    if spec.kind == "weekday":
        weekday, mode = spec.value
        back = (today.weekday() - weekday) % 7
        ahead = (weekday - today.weekday()) % 7
        if mode == -1:  # last saturday: strictly before today
            return today - timedelta(days=back or 7)
        if mode == 1:  # next saturday: strictly after today
            return today + timedelta(days=ahead or 7)
        if mode == 2:  # this saturday: within the coming week
            return today + timedelta(days=ahead)
        return today + timedelta(days=ahead) if future else today - timedelta(days=back)
    month, day = spec.value
    for year in (
        (today.year, today.year - 1, today.year + 1) if not future else (today.year, today.year + 1)
    ):
        candidate = _safe_date(year, month, day)
        if candidate is None:
            continue
        if future and candidate >= today:
            return candidate
        if not future and candidate <= today:
            return candidate
    return None


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


# --- amounts ----------------------------------------------------------------------------------

CURRENCIES = {
    "rubles": "RUB", "ruble": "RUB", "roubles": "RUB", "rouble": "RUB", "rub": "RUB",
    "rubels": "RUB", "rubel": "RUB", "robles": "RUB", "rubbles": "RUB", "rubies": "RUB",
    "dollars": "USD", "dollar": "USD", "bucks": "USD", "euros": "EUR", "euro": "EUR",
}  # fmt: skip


def _extract_amount(tokens: list[str], used: list[bool]) -> tuple[int, str | None] | None:
    for i, tok in enumerate(tokens):
        if used[i] or not (tok in NUMBER_WORDS or tok in ("a", "half") or _is_number(tok)):
            continue
        if tok == "a" and (i + 1 >= len(tokens) or tokens[i + 1] not in SCALES):
            continue
        parsed = parse_cardinal(tokens, i)
        if parsed is None:
            continue
        value, end = parsed
        if any(used[k] for k in range(i, end)):
            continue
        currency = CURRENCIES.get(tokens[end]) if end < len(tokens) else None
        has_scale = any(t in SCALES for t in tokens[i:end])
        if currency is None and not has_scale:
            continue
        for k in range(i, end + (1 if currency else 0)):
            used[k] = True
        return int(round(value)), currency
    return None


def _is_number(tok: str) -> bool:
    return tok.replace(".", "", 1).isdigit()


# --- ticket numbers ---------------------------------------------------------------------------


def _digits_at(tokens: list[str], i: int, in_run: bool) -> tuple[str, int] | None:
    """Digits spoken at position i (one token or "double five"), or None."""
    tok = tokens[i]
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    if tok.isdigit():
        return tok, i + 1
    if tok in REPEATS and nxt in DIGIT_WORDS:
        return str(DIGIT_WORDS[nxt]) * REPEATS[tok], i + 2
    if tok in DIGIT_WORDS:
        if tok == "o" and not in_run and not (nxt in DIGIT_WORDS or nxt.isdigit()):
            return None
        return str(DIGIT_WORDS[tok]), i + 1
    if tok in UNITS:  # ten .. nineteen read as a pair
        return str(UNITS[tok]), i + 1
    if tok in TENS:
        if nxt in DIGIT_WORDS and DIGIT_WORDS[nxt] > 0 and nxt not in ("oh", "o"):
            return str(TENS[tok] + DIGIT_WORDS[nxt]), i + 2
        return str(TENS[tok]), i + 1
    if tok in DIGIT_HOMOPHONES and in_run:
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        if after.isdigit() or after in DIGIT_WORDS:
            return str(DIGIT_HOMOPHONES[tok]), i + 1
    return None


def _extract_ticket(tokens: list[str], used: list[bool], min_digits: int) -> str | None:
    best: tuple[str, list[int]] | None = None
    i = 0
    while i < len(tokens):
        if used[i]:
            i += 1
            continue
        digits = ""
        covered: list[int] = []
        j = i
        while j < len(tokens) and not used[j]:
            got = _digits_at(tokens, j, in_run=bool(digits))
            if got is None:
                # "number one two three dash four five" style separators inside a run
                if digits and tokens[j] in ("dash", "and", "space") and j + 1 < len(tokens):
                    if _digits_at(tokens, j + 1, in_run=True):
                        covered.append(j)
                        j += 1
                        continue
                break
            piece, nj = got
            if any(used[k] for k in range(j, nj)):
                break
            digits += piece
            covered.extend(range(j, nj))
            j = nj
        if digits and (best is None or len(digits) > len(best[0])):
            best = (digits, covered)
        i = max(j, i + 1)
    if best is None or not min_digits <= len(best[0]) <= MAX_TICKET_DIGITS:
        return None
    for k in best[1]:
        used[k] = True
    return best[0]


# --- intent patterns --------------------------------------------------------------------------

_P = list[tuple[re.Pattern[str], float]]


def _pats(*pairs: tuple[str, float]) -> _P:
    return [(re.compile(p), w) for p, w in pairs]


_PATTERNS: dict[str, _P] = {
    OPERATOR: _pats(
        (r"\boperators?\b", 3.0),
        (r"\b(?:real|live|actual|human) (?:person|people|being|operator|agent)\b", 3.0),
        (r"\b(?:a|an|some|the) (?:person|human)\b", 2.5),
        (r"\bhumans?\b", 2.5),
        (r"\bagents?\b", 2.5),
        (r"\brepresentatives?\b|\brep\b", 2.5),
        (
            r"\b(?:talk|speak|chat) (?:to|with) (?:someone|somebody|anyone|anybody|a man|a woman|staff|support|people)\b",
            3.0,
        ),  # noqa: E501
        (r"\b(?:someone|somebody) (?:real|alive|live)\b", 3.0),
        (r"\bcustomer (?:service|support|care)\b", 2.5),
        (r"\b(?:my|personal) manager\b", 2.5),
        (r"\b(?:transfer|connect) me\b|\bput me (?:through|to|with)\b", 2.5),
        (r"\b(?:support|help) desk\b", 2.0),
        (r"\bstop the robot\b|\bno (?:more )?robots?\b|\bnot a (?:robot|machine|bot)\b", 2.5),
    ),
    CHECK_TICKET: _pats(
        (r"\bcheck\b.*\btickets?\b", 1.5),
        (
            r"\btickets?\b.*\b(?:check|status|result|results|win|won|winner|winning|any good|lucky)\b",
            1.2,
        ),  # noqa: E501
        (r"\bdid (?:i|we|it|my ticket|this ticket|the ticket|my numbers) (?:win|won|get)\b", 1.6),
        (r"\b(?:have|did|has) (?:i|we|my ticket) (?:win|won)\b", 1.6),
        (r"\b(?:am i|is it|is this|is my ticket) (?:a )?winn(?:er|ing)\b", 1.6),
        (r"\bwin anything\b|\bwon anything\b", 1.4),
        (r"\b(?:did|have|do) my numbers\b", 1.6),
        (r"\bcheck (?:my|the|these) numbers\b", 1.5),
        (r"\bmy numbers\b", 0.8),
        (r"\bticket numbers?\b", 0.9),
        (r"\bmy tickets?\b", 0.7),
        (r"\btickets?\b", 0.4),
        (r"\bcheck\b", 0.4),
        (r"\bdid i\b", 0.3),
    ),
    WINNING_NUMBERS: _pats(
        (r"\bwinning (?:numbers|combination|combo|balls|barrels)\b", 1.5),
        (r"\b(?:draw|drawing|lottery|lotto|game|thegame) results?\b", 1.2),
        (
            r"\bresults? (?:of|for|from) (?:the |this |last |yesterdays |todays |saturdays |sundays )*(?:last |latest |recent )?(?:draw|drawing|game|lottery|lotto|thegame)\b",
            1.5,
        ),  # noqa: E501
        (r"\bwhat (?:were|are|was|is) (?:the )?(?:winning |lucky |drawn )?numbers\b", 1.4),
        (r"\b(?:which|what) numbers\b", 1.0),
        (
            r"\bnumbers? (?:were |was |got |that )?(?:drawn|came up|come up|came out|won|pulled)\b",
            1.4,
        ),  # noqa: E501
        (r"\b(?:latest|last|previous|recent) (?:draw|drawing|results?)\b", 0.7),
        # near misses: "tell me the draw numbers", "what were the march numbers"
        (r"\b(?:draw|drawn|drawing|lottery|lotto|thegame|game|latest|last|yesterdays|todays|"
         r"tonights|saturdays|sundays) numbers\b", 1.3),
        (r"\bwhat (?:were|are|was|is) (?:the )?\w+ numbers\b", 1.2),
        (r"\bwho won\b", 0.8),
        (
            r"\b(?:yesterdays|todays|tonights|saturdays|sundays|last nights|latest|last|recent) results\b",
            1.0,
        ),
        (r"\bresults?\b", 0.5),
        (r"\bnumbers\b", 0.4),
        (r"\bjackpot numbers\b", 1.0),
    ),
    NEXT_DRAW: _pats(
        (r"\bnext (?:draw|drawing|game|lottery|lotto|round|jackpot|thegame)\b", 1.5),
        (r"\bupcoming (?:draw|drawing|game|lottery|lotto|thegame)\b", 1.5),
        (
            r"\bwhen (?:is|s|will|does|do|are) (?:the )?(?:next |upcoming )?(?:draw|drawing|drawings|game|lottery|lotto|thegame)\b",
            1.4,
        ),  # noqa: E501
        (
            r"\bwhen (?:is|s|will|does|do|are)\b.*\b(?:draw|drawing|drawings|drawn|play|played|held|start|take place|on)\b",
            1.0,
        ),  # noqa: E501
        (r"\bwhat time\b.*\b(?:draw|drawing|thegame|lotto|lottery|game|start)\b", 1.2),
        (r"\b(?:draw|drawing) (?:schedule|time|times|date|day|days)\b", 1.4),
        (r"\bschedule\b", 0.9),
        (r"\bis there (?:a|any) (?:draw|drawing|game)\b", 1.3),
        (r"\bhow often\b", 0.9),
        (r"\bwhen can i (?:play|buy)\b", 0.9),
        (r"\bwhat day\b", 0.6),
        (r"\bwhat day\b.*\b(?:draw|drawing|thegame|lotto|lottery)\b", 0.8),
        (r"\bwhen\b", 0.3),
    ),
    CLAIM_WINNINGS: _pats(
        (r"\bclaim\b|\bclaiming\b", 1.5),
        (
            r"\b(?:collect|redeem|cash|withdraw|receive|get|pick up|pickup|take|obtain)\b.*\b(?:prize|prizes|winnings|money|payout|reward|cash|win)\b",
            1.3,
        ),  # noqa: E501
        (r"\bpay ?outs?\b|\bpaid out\b", 1.2),
        (r"\b(?:get|be) paid\b", 1.3),
        (r"\bcash (?:in|out)\b", 1.6),
        (r"\bredeem\b", 1.5),
        (r"\bwhere (?:can|do|should) i (?:go|get|collect|receive)\b", 1.0),
        (r"\bhow (?:do|can|should) i get (?:my|the)\b", 0.9),
        (r"\bwinnings\b", 0.8),
        (r"\bcollect\b", 1.0),
        (r"\bprize\b", 0.4),
        (r"\bi (?:won|have won|ve won|just won)\b", 0.6),
        (r"\btax(?:es)?\b", 0.6),
        (r"\bbank (?:account|card|transfer)\b", 0.8),
        # near misses: "i want a money how do i get a" (a clipped "how do i get my money")
        (r"\bmoney\b", 0.6),
        (r"\bhow (?:do|can|should) i get\b", 0.3),
    ),
}

# A request for a person, as opposed to a mere mention of one ("... for the operator lotto",
# "the operator told me to check my ticket"): a request always transfers; a mention loses to
# any other intent the sentence is clearly about (OPERATOR_YIELDS_TO).
_PERSON = (r"(?:operators?|person|human|agent|representative|someone|somebody|anyone|anybody|"
           r"man|woman|staff|support|people|manager|rep)")  # fmt: skip
_OPERATOR_REQUEST = [re.compile(p) for p in (
    r"^(?:(?:an?|the|real|live|some|my) )*(?:operators?|humans?|person|agents?|representatives?|"
    r"customer (?:service|support|care)|help desk|support desk)(?: (?:operator|please|now|"
    r"thanks))*$",
    rf"\b(?:talk|speak|chat|get through) (?:to|with) (?:(?:an?|the|some|my|real|live|actual) )*"
    rf"{_PERSON}\b",
    rf"\b(?:want|need|give me|get me|have|like|find me|call) (?:(?:an?|the|to|some|real|live|"
    rf"actual|human) )*{_PERSON}\b",
    r"\b(?:transfer|connect) me\b|\bput me (?:through|to|with)\b",
    r"\b(?:real|live|actual|human) (?:person|people|being|operator|agent)\b",
    r"\b(?:someone|somebody) (?:real|alive|live)\b",
    r"\bstop the robot\b|\bno (?:more )?robots?\b|\bnot a (?:robot|machine|bot)\b",
)]  # fmt: skip
OPERATOR_YIELDS_TO = 1.2  # another intent at least this strong beats a mere mention

_OPERATOR_NEGATION = re.compile(
    r"\b(?:dont|do not|no|not|never|without) (?:need |want )?(?:an? |the |to )?(?:talk to |speak to )?(?:an? )?(?:operator|person|human|agent)"  # noqa: E501
)
_AFFIRM_ONE = (
    r"(?:yes|yeah|yep|yup|ya|yes yes|sure|ok|okay|alright|all right|of course|please do|go ahead|do it|correct|right|that s right|thats right|yes please|definitely|certainly|absolutely)(?: (?:please|thanks|thank you|do it|go ahead|sure))?"  # noqa: E501
)
_DENY_ONE = (
    r"(?:no|nope|nah|no thanks|no thank you|not now|dont|do not|not really|no no|never mind|nevermind|thats all|that s all|that is all|thats it|that s it|nothing else|nothing|i m done|im done)(?: (?:thanks|thank you|need|its fine|i m fine|im fine|thats all|that s all|that is all|thats it|thank you thats all|thanks thats all|for now|goodbye|bye))?"  # noqa: E501
)
# the whole answer, said once or repeated ("no thank you that s all no thank you that is all":
# Whisper sometimes writes a short answer twice)
_AFFIRM = re.compile(rf"^{_AFFIRM_ONE}(?: {_AFFIRM_ONE})*$")
_DENY = re.compile(rf"^{_DENY_ONE}(?: {_DENY_ONE})*$")


def _score(text: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    for intent, patterns in _PATTERNS.items():
        total = sum(w for p, w in patterns if p.search(text))
        if total:
            scores[intent] = total
    if OPERATOR in scores and _OPERATOR_NEGATION.search(text):
        scores.pop(OPERATOR)
    if OPERATOR in scores:
        others = [v for k, v in scores.items() if k != OPERATOR]
        if any(p.search(text) for p in _OPERATOR_REQUEST):
            # a request for a person wins over whatever else the sentence is about
            scores[OPERATOR] = max(scores[OPERATOR], max(others, default=0.0) + 1.0)
        elif others and max(others) >= OPERATOR_YIELDS_TO:
            scores.pop(OPERATOR)  # a word about a person in a sentence about something else
    return scores


# --- entry point ------------------------------------------------------------------------------


def understand(text: str, context: DialogContext | None = None) -> Understanding:
    ctx = context or DialogContext()
    norm = normalize(text)
    slots: dict[str, Any] = {}

    # absolute dates written with separators must be read before punctuation is dropped
    raw_date: date | None = None
    lowered = text.lower()
    for pattern, order in ((_ISO_DATE, (0, 1, 2)), (_DOTTED_DATE, (2, 1, 0))):
        m = pattern.search(lowered)
        if m:
            parts = [int(g) for g in m.groups()]
            raw_date = _safe_date(parts[order[0]], parts[order[1]], parts[order[2]])
            norm = normalize(lowered[: m.start()] + " " + lowered[m.end() :])
            break

    game, scored_text = _extract_game(norm)
    if game:
        slots["game"] = game
    tokens = scored_text.split()
    used = [t == "thegame" for t in tokens]
    date_spec = None if raw_date else _extract_date(tokens, used)
    amount = _extract_amount(tokens, used)
    if amount:
        slots["amount"] = amount[0]
        if amount[1]:
            slots["currency"] = amount[1]
    expecting_ticket = ctx.expecting == "ticket"
    ticket = _extract_ticket(tokens, used, MIN_TICKET_DIGITS)
    if ticket:
        slots["ticket"] = ticket

    scores = _score(scored_text)
    if ticket:
        scores[CHECK_TICKET] = scores.get(CHECK_TICKET, 0.0) + (1.5 if expecting_ticket else 0.8)
    if amount and CLAIM_WINNINGS in scores:
        scores[CLAIM_WINNINGS] += 0.4

    intent, confidence = _pick(scores)
    if intent == UNKNOWN or (intent != OPERATOR and confidence < 0.5):
        if _AFFIRM.match(norm):
            intent, confidence = AFFIRM, 0.9 if ctx.expecting == "confirm" else 0.6
        elif _DENY.match(norm):
            intent, confidence = DENY, 0.9 if ctx.expecting == "confirm" else 0.6
    if intent == UNKNOWN and ctx.last_intent and ctx.last_intent in _PATTERNS:
        # a bare answer to the bot's follow-up question continues the previous request
        answered = (
            (ctx.expecting == "game" and game)
            or (ctx.expecting == "date" and (date_spec or raw_date))
            or (ctx.expecting in (None, "ticket") and ticket and ctx.last_intent == CHECK_TICKET)
        )
        if answered:
            intent, confidence = ctx.last_intent, 0.8

    by = "patterns"
    alternatives = _alternatives(scores)
    if intent == UNKNOWN and norm and not alternatives:  # a tie is asked about, not guessed
        guess = _model_guess(norm)
        if guess is not None:
            intent, confidence, by = guess[0], guess[1], "model"

    if raw_date or date_spec:
        future = intent == NEXT_DRAW
        resolved = raw_date or _resolve_date(date_spec, ctx.today, future)  # type: ignore[arg-type]
        if resolved:
            slots["date"] = resolved
    if intent in (OPERATOR, AFFIRM, DENY):
        alternatives = ()
    return Understanding(intent, slots, round(confidence, 2), by, alternatives)


SURE_CONFIDENCE = 0.8  # understood at least this well by the patterns alone: the turn may end
# a sentence ending in one of these is likely to go on ("... numbers for", "... on the")
_GOES_ON = frozenset("a an and the of for on in at to my from with or but about".split())


def sure(text: str) -> bool:
    """The text alone is a request the patterns understand for sure (one question or the
    operator, no second question close behind, not the model's guess): the bot can answer
    it without hearing more, so the turn may end at a short pause (voicebot.processors
    semantic endpointing). Not sure: yes/no without the question they answer; a ticket check
    (callers pause between the digits they read out); a sentence ending in a number (a date,
    an amount or a ticket may go on) or in a word that needs more ("for", "the")."""
    tokens = normalize(text).split()
    if not tokens or tokens[-1] in _GOES_ON or tokens[-1] in NUMBER_WORDS \
            or _is_number(tokens[-1]) or tokens[-1] in ("oh", "double", "triple"):
        return False
    heard = understand(text)
    return (heard.intent not in (UNKNOWN, AFFIRM, DENY, CHECK_TICKET) and heard.by == "patterns"
            and not heard.alternatives and heard.confidence >= SURE_CONFIDENCE)  # fmt: skip


ALTERNATIVE_RATIO = 0.7  # the second question scores at least this share of the first's


def _alternatives(scores: dict[str, float]) -> tuple[str, ...]:
    ranked = sorted(((v, k) for k, v in scores.items() if k in QUESTIONS), reverse=True)
    if len(ranked) < 2 or ranked[1][0] < 0.5 or ranked[1][0] < ALTERNATIVE_RATIO * ranked[0][0]:
        return ()
    return ranked[0][1], ranked[1][1]


# what the bot calls each question when it asks which one the caller means
CHOICE_LABELS = {CHECK_TICKET: "a ticket check", NEXT_DRAW: "the next draw time",
                 WINNING_NUMBERS: "the winning numbers", CLAIM_WINNINGS: "how to claim a prize"}  # fmt: skip
_CHOICE_WORDS = {
    CHECK_TICKET: re.compile(r"\b(?:tickets?|check|checking|check it)\b"),
    NEXT_DRAW: re.compile(r"\b(?:next|when|time|times|schedule|upcoming|date)\b"),
    WINNING_NUMBERS: re.compile(r"\b(?:numbers?|winning numbers|results?|combination)\b"),
    CLAIM_WINNINGS: re.compile(r"\b(?:claim|claiming|prize|money|collect|paid|payout|cash)\b"),
}
_FIRST = re.compile(r"\b(?:first|former|one|1|number one|the first one)\b")
_SECOND = re.compile(r"\b(?:second|latter|last|two|2|other|number two|the second one)\b")
_ORDINAL_ONE = re.compile(r"\b(first|former|second|latter|last|other) one\b")  # not key 1


def choose(text: str, options: tuple[str, ...]) -> str | None:
    """Which of the two `options` the caller's answer to "Do you want A or B?" picks: the one
    its words understand as, else the only one whose key words it says ("the numbers"), else
    "the first" / "the second"; None when it picks neither."""
    norm = normalize(text)
    u = understand(text)
    if u.intent in options and u.by == "patterns":
        return u.intent
    said = [o for o in options if _CHOICE_WORDS[o].search(norm)]
    if len(said) == 1:
        return said[0]
    ordinal = _ORDINAL_ONE.sub(r"\1", norm)  # "the second one" says no "one"
    first, second = bool(_FIRST.search(ordinal)), bool(_SECOND.search(ordinal))
    if first != second and len(options) >= 2:
        return options[0] if first else options[1]
    return u.intent if u.intent in options else None


MODEL_MIN_PROBABILITY = 0.5  # below: still "unknown" (docs/decisions/0007)
MODEL_MIN_OPERATOR = 0.8  # a transfer on the model's word alone needs a surer guess


def warm_up() -> bool:
    """Train the fallback model now (~1-4 s), not on a caller's first odd sentence; False when
    scikit-learn is not installed (the patterns alone then decide)."""
    return _intent_model() is not None


@functools.cache
def _intent_model() -> Any:
    from voicebot.intent_model import train

    return train(sample_sentences())


def _model_guess(text: str) -> tuple[str, float] | None:
    """The trained fallback's intent and a confidence in [0.45, 0.59]: enough for the dialog
    to answer a sure guess (>= 0.5 from probability 0.67 up), never enough for the two-pass
    recogniser to skip its second opinion (voicebot.asr_twopass)."""
    model = _intent_model()
    if model is None:
        return None
    intent, probability = model.predict(text)
    if intent == UNKNOWN or probability < MODEL_MIN_PROBABILITY:
        return None
    if intent == OPERATOR and (probability < MODEL_MIN_OPERATOR or _OPERATOR_NEGATION.search(text)):
        return None  # "i dont need an operator" is no request for one
    return intent, min(0.59, 0.3 + 0.3 * probability)


def _pick(scores: dict[str, float]) -> tuple[str, float]:
    if not scores:
        return UNKNOWN, 0.0
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    top, top_score = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    if top_score < 0.5:
        return UNKNOWN, 0.0
    if top != OPERATOR and top_score - second < 0.2:
        return UNKNOWN, 0.3  # too close to call: better to ask than to guess
    strength = min(1.0, top_score / 1.4)
    margin = top_score / (top_score + second)
    return top, min(0.99, strength * (0.5 + 0.5 * margin) + (0.1 if top_score >= 2.5 else 0.0))


# --- grammar hints and sample sentences --------------------------------------------------------

_TICKETS = ["one two three four five six", "seven oh four double five nine", "483920",
            "five five two one nine eight zero", "twelve thirty four fifty six",
            "nine eight seven six five four three two"]  # fmt: skip
_DATES = ["yesterday", "last saturday", "on sunday", "today", "on march third",
          "on the fifth of january", "last friday", "two days ago"]  # fmt: skip
_GAME_SAYINGS = ["russian lotto", "the russian lotto", "six of forty five", "six out of forty five",
                 "six forty five", "6 of 45"]  # fmt: skip
_AMOUNTS = ["five thousand rubles", "two thousand five hundred rubles", "a million rubles",
            "fifty thousand rubles", "three hundred rubles"]  # fmt: skip


def sample_sentences() -> dict[str, list[str]]:
    """In-domain sentences per intent (ASR language model, grammar, generated test set)."""
    out: dict[str, list[str]] = {}
    out[CHECK_TICKET] = [
        *(f"i want to check my ticket {t}" for t in _TICKETS),
        *(f"did my ticket {t} win" for t in _TICKETS[:3]),
        *(f"check ticket number {t}" for t in _TICKETS),
        *(f"did i win in the {g} {d}" for g in _GAME_SAYINGS[:3] for d in _DATES[:3]),
        *(f"my ticket number is {t}" for t in _TICKETS[:4]),
        "i want to check my ticket",
        "can you check my ticket",
        "did i win",
        "is my ticket a winner",
        "have i won anything",
        "check my lottery ticket",
        "i would like to know if my ticket won",
        "did my numbers come up",
        "can you tell me if my ticket is a winner",
        "what is the status of my ticket",
        "i have a ticket and want to know if i won",
        "ticket check",
        "i bought a ticket for the russian lotto did i win",
        "check my numbers please",
    ]
    out[NEXT_DRAW] = [
        *(f"when is the next {g} draw" for g in _GAME_SAYINGS),
        *(f"what time is the {g} draw" for g in _GAME_SAYINGS[:3]),
        *(f"when does the {g} start" for g in _GAME_SAYINGS[:3]),
        "when is the next draw",
        "what time is the draw",
        "when is the drawing",
        "what is the draw schedule",
        "when will the next lottery be",
        "next draw please",
        "how often are the draws",
        "when can i play next",
        "what day is the draw",
        "is there a draw on saturday",
        "when is the upcoming draw",
        "tell me the draw times",
        "when will they draw the numbers",
        "what is the schedule for the russian lotto",
        "when is the next jackpot",
        "when does the lottery take place",
    ]
    out[WINNING_NUMBERS] = [
        *(f"what were the winning numbers {d}" for d in _DATES),
        *(f"what are the winning numbers for the {g}" for g in _GAME_SAYINGS),
        *(f"{g} results {d}" for g in _GAME_SAYINGS[:3] for d in _DATES[:3]),
        "what were the winning numbers",
        "which numbers came up",
        "what numbers were drawn",
        "tell me the draw results",
        "results of the last draw",
        "what was the winning combination",
        "latest results please",
        "read me the winning numbers",
        "what are the lucky numbers",
        "give me the results of the russian lotto",
        "what numbers came out yesterday",
        "winning numbers",
        "the results of yesterdays draw",
        "who won the lottery",
    ]
    out[CLAIM_WINNINGS] = [
        *(f"i won {a} how do i claim it" for a in _AMOUNTS),
        *(f"how do i get my {a}" for a in _AMOUNTS[:3]),
        *(f"where can i collect {a}" for a in _AMOUNTS[:3]),
        "how do i claim my prize",
        "where can i collect my winnings",
        "how do i get paid",
        "i want to cash in my ticket",
        "how do i get my money",
        "i won how do i get the prize",
        "can you send the winnings to my bank card",
        "where do i go to collect my prize",
        "how can i receive my winnings",
        "what do i need to claim the prize",
        "do i pay tax on my winnings",
        "payout please",
        "i want to redeem my winning ticket",
        "how long does the payout take",
        "claim winnings",
    ]
    out[OPERATOR] = [
        "operator",
        "i want to talk to an operator",
        "can i speak to a person",
        "give me a human",
        "real person please",
        "agent",
        "representative",
        "let me talk to someone",
        "i want to speak with somebody",
        "transfer me to an operator",
        "connect me to my manager",
        "customer service",
        "i need a live person",
        "put me through to a human",
        "stop the robot i want a person",
        "talk to someone",
        "can i have a real person",
        "i would like to speak to a representative",
        "connect me with an agent please",
        "operator operator",
    ]
    out[UNKNOWN] = [
        "what is the weather like",
        "i like turtles",
        "hello",
        "can you hear me",
        "my cat is sleeping",
        "what is your name",
        "blue",
        "i am calling about something else",
        "sing me a song",
        "how old are you",
        "good morning",
        "thank you",
        "goodbye",
        "the weather in moscow",
        "i lost my keys",
        "is the shop open",
        "can i buy a car",
        "tell me a joke",
        "who are you",
        "what is the date today",
    ]
    return out


_EXTRA_WORDS = [
    *DIGIT_WORDS, *UNITS, *TENS, *SCALES, "hundred", "double", "triple", "dash", "hash",
    "star", "pound", *ORDINALS, *(m for m in MONTHS if len(m) > 3), "may", *WEEKDAYS,
    "yes", "no", "yeah", "nope", "okay", "sure", "thanks", "thank", "you", "rubles", "roubles",
    "ruble", "lotto", "lottery", "russian", "forty", "five", "six", "of",
]  # fmt: skip


def vocabulary() -> list[str]:
    """Words the ASR should expect (grammar hints), sorted and unique.

    Includes whole multi-word phrases for the games and operator requests so engines that take
    phrase lists (Vosk grammar) get them as units.
    """
    words: set[str] = set(_EXTRA_WORDS)
    for sentences in sample_sentences().values():
        for sentence in sentences:
            words.update(w for w in normalize(sentence).split() if not w.isdigit())
    words.update(number_to_words(n) for n in range(100))
    phrases = {"russian lotto", "six of forty five", "real person", "talk to someone",
               "winning numbers", "next draw", "ticket number"}  # fmt: skip
    return sorted(words | phrases)
