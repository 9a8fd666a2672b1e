"""Spoken-number helpers shared by intent parsing and answer wording (pure).

ASR output spells numbers as words ("two thousand five hundred"), as digits ("2500") or as a
mix; callers read ticket numbers digit by digit ("oh", "double five").
"""

from __future__ import annotations

UNITS: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
TENS: dict[str, int] = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES: dict[str, int] = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}

# words a caller uses for single digits when reading a ticket number
DIGIT_WORDS: dict[str, int] = {w: v for w, v in UNITS.items() if v < 10}
DIGIT_WORDS |= {"oh": 0, "o": 0, "nought": 0, "nil": 0}
# ASR homophones: only trusted between real digits ("three for five")
DIGIT_HOMOPHONES: dict[str, int] = {"to": 2, "too": 2, "for": 4, "won": 1, "ate": 8}
REPEATS: dict[str, int] = {"double": 2, "triple": 3}

ORDINALS: dict[str, int] = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip

NUMBER_WORDS = frozenset(UNITS) | frozenset(TENS) | frozenset(SCALES) | {"hundred"}


def is_numeral(token: str) -> bool:
    return token.replace(".", "", 1).isdigit() and not token.startswith(".")


def parse_cardinal(tokens: list[str], start: int) -> tuple[float, int] | None:
    """Parse a cardinal number starting at `start`; return (value, end index) or None.

    Handles "five thousand", "two thousand five hundred", "a million", "half a million",
    "one and a half million", "2500", "1.5 million", "twenty five thousand".
    """
    i = start
    n = len(tokens)
    total = 0.0
    current = 0.0
    seen = False

    def peek(k: int) -> str:
        return tokens[k] if k < n else ""

    while i < n:
        tok = tokens[i]
        if tok == "half" and peek(i + 1) == "a" and peek(i + 2) in SCALES:
            total += 0.5 * SCALES[peek(i + 2)]
            i += 3
            seen = True
            continue
        if tok == "and" and seen and peek(i + 1) == "a" and peek(i + 2) == "half":
            if peek(i + 3) in SCALES:
                total += (current + 0.5) * SCALES[peek(i + 3)]
                current = 0.0
                i += 4
            else:
                current += 0.5
                i += 3
            continue
        if tok == "a" and not seen and (peek(i + 1) in SCALES or peek(i + 1) == "hundred"):
            current = 1.0
            seen = True
            i += 1
            continue
        if is_numeral(tok):
            if seen:
                break
            current += float(tok)
            seen = True
            i += 1
            continue
        if tok in UNITS:
            tail = current % 100
            if seen and tail != 0 and not (tail >= 20 and tail % 10 == 0 and UNITS[tok] < 10):
                break  # "two three" is two numbers, not one
            current += UNITS[tok]
            seen = True
            i += 1
            continue
        if tok in TENS:
            if seen and current % 100 != 0:
                break
            current += TENS[tok]
            seen = True
            i += 1
            continue
        if tok == "hundred" and seen:
            current = (current or 1) * 100
            i += 1
            continue
        if tok in SCALES and seen:
            total += (current or 1) * SCALES[tok]
            current = 0.0
            i += 1
            continue
        if tok == "and" and seen and (peek(i + 1) in UNITS or peek(i + 1) in TENS):
            i += 1
            continue
        break
    if not seen:
        return None
    return total + current, i


def parse_ordinal(tokens: list[str], start: int) -> tuple[int, int] | None:
    """Day of month: "3rd", "3", "third", "twenty third", "twenty-first" (already split)."""
    if start >= len(tokens):
        return None
    tok = tokens[start]
    digits = tok[:-2] if tok[-2:] in ("st", "nd", "rd", "th") else tok
    if digits.isdigit():
        return int(digits), start + 1
    if tok in ORDINALS:
        return ORDINALS[tok], start + 1
    if tok in TENS and start + 1 < len(tokens) and tokens[start + 1] in ORDINALS:
        unit = ORDINALS[tokens[start + 1]]
        if unit < 10:
            return TENS[tok] + unit, start + 2
    return None


_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS_WORDS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_to_words(value: int) -> str:
    """English words for a non-negative integer (for grammar hints and sample sentences)."""
    if value < 0:
        raise ValueError("negative numbers are not spoken here")
    if value < 20:
        return _ONES[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return _TENS_WORDS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if value < 1000:
        hundreds, rest = divmod(value, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for scale_value, scale_word in ((1_000_000_000, "billion"), (1_000_000, "million"),
                                    (1_000, "thousand")):  # fmt: skip
        if value >= scale_value:
            head, rest = divmod(value, scale_value)
            words = number_to_words(head) + " " + scale_word
            return words if rest == 0 else words + " " + number_to_words(rest)
    raise AssertionError("unreachable")
