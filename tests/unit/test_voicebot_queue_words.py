"""What a caller waiting in the queue says, as the callback offer's words (pure)."""

from __future__ import annotations

import pytest

from callrouting.events import QUEUE_WORDS
from voicebot.queue_words import queue_word


@pytest.mark.parametrize(("text", "word"), [
    ("call me back", "callback"), ("could you call me back please", "callback"),
    ("Callback, please.", "callback"), ("ring me back", "callback"), ("call back", "callback"),
    ("operator", "operator"), ("i want to talk to a person", "operator"),
    ("yes", "yes"), ("yeah sure", "yes"), ("no", "no"), ("no thanks", "no"),
    ("don't call me back", None), ("do not call me back", None), ("no callback", None),
    ("", None), ("uh", None), ("the music is nice", None), ("check my ticket", None),
])
def test_transcripts_become_offer_words(text: str, word: str | None) -> None:
    assert queue_word(text) == word
    assert word is None or word in QUEUE_WORDS
