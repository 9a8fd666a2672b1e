"""What a caller waiting in the pool queue says, as one of the callback offer's words.  Pure.

The words are `callrouting.events.QUEUE_WORDS`: "callback" ("call me back", "ring me back",
"callback please"), "operator" (as the bot understands it, `voicebot.intents`), "yes" and
"no" (the bot's own yes/no answers).  A negation ("don't call me back", "no callback") is not
a request; anything else is nothing (None), so the music and other callers' noise say nothing.
The phrases also limit the recogniser (`PHRASES`, a Vosk-style phrase list).
"""

from __future__ import annotations

import re

from voicebot.intents import AFFIRM, DENY, OPERATOR, DialogContext, normalize, understand

CALLBACK = "callback"
_CALLBACK = re.compile(
    r"\b(?:call|ring|phone) (?:me |us )?back\b|\bcall ?backs?\b|\bring ?back\b|\bcall me later\b"
)
_NEGATED = re.compile(
    r"\b(?:dont|do not|no|not|never|without) (?:need |want )?(?:an? |the |to )?(?:be )?"
    r"(?:call|ring|phone)(?:ed)?(?: me| us)? ?back"
)
PHRASES = (
    "call me back", "call me back please", "call back", "ring me back", "call back please",
    "please call me back", "operator", "yes", "no", "yes please", "no thanks", "real person",
    # other things callers say while waiting: they take speech that is none of the words
    # (a strict grammar forces every utterance onto one of its phrases)
    "hello", "thank you", "how long", "i am waiting", "check my ticket", "what",
)


def vocabulary() -> list[str]:
    """The words of `PHRASES`, for a recogniser whose dictionary is limited (pocketsphinx)."""
    return sorted({w for p in PHRASES for w in p.split()})


def queue_word(text: str) -> str | None:
    """The offer word in one final transcript, or None."""
    norm = normalize(text)
    if not norm:
        return None
    if _CALLBACK.search(norm) and not _NEGATED.search(norm):
        return CALLBACK
    intent = understand(norm, DialogContext(expecting="confirm")).intent
    return {OPERATOR: "operator", AFFIRM: "yes", DENY: "no"}.get(intent)
