"""The post-call rating over AudioSocket: a key 1-5 or the spoken number, pure.

`RatingDialog` has the shape of `voicebot.dialog.Dialog` that `DialogProcessor` drives (methods
take `now` and return `Say`/`EndCall` effects; `tick(now)` at `next_deadline`), so a `BotSession`
runs it in place of the lottery dialog, with a recognizer limited to `RATING_PHRASES`.

    ask -> (key in `keys` | "five") -> score, end
        -> (silence for `timeout` | another key | words that are no score) -> next prompt
        -> after the last prompt: no score ("no_input" or "invalid"), end

The IVR machine plays the thanks and hangs up; this only asks and listens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from voicebot.dialog import EndCall, Say, TranscriptEntry

__all__ = ["RATING_PHRASES", "RatingAnswer", "RatingDialog", "parse_score"]

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
RATING_PHRASES: tuple[str, ...] = tuple(_WORDS)  # the recognizer's whole vocabulary here
_TOKEN = re.compile(r"[a-z]+|\d+")


def parse_score(text: str) -> int | None:
    """The one score 1-5 named in `text` ("five", "5", "uh five"); None if none or several."""
    found = set()
    for token in _TOKEN.findall(text.lower()):
        if token in _WORDS:
            found.add(_WORDS[token])
        elif token.isdigit() and 1 <= int(token) <= 5:
            found.add(int(token))
    return found.pop() if len(found) == 1 else None


@dataclass(frozen=True, slots=True)
class RatingAnswer:
    """What the caller gave. `score` None = no rating; `reason` "rated", "no_input", "invalid"
    (or "hangup"/"failed" when the socket ended first); `attempts` = prompts heard."""

    score: int | None
    via: Literal["key", "speech"] | None = None
    transcript: str = ""
    attempts: int = 1
    reason: str = "rated"


@dataclass
class RatingDialog:
    prompts: Sequence[str]  # the ask, then one per retry
    keys: str = "12345"
    timeout: timedelta = timedelta(seconds=5)
    transcript: list[TranscriptEntry] = field(default_factory=list)
    answer: RatingAnswer | None = None
    phrases: tuple[str, ...] = RATING_PHRASES
    ended: bool = False
    _asked: int = 0
    _silence_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.prompts:
            raise ValueError("a rating needs at least one prompt")

    # --- what BotSession reads ----------------------------------------------------------------

    @property
    def last_intent(self) -> str | None:
        return "rating" if self.answer is not None else None

    @property
    def last_slots(self) -> dict[str, Any]:
        a = self.answer
        if a is None:
            return {}
        return {"score": a.score, "via": a.via, "heard": a.transcript, "attempts": a.attempts,
                "reason": a.reason}  # fmt: skip

    @property
    def next_deadline(self) -> datetime | None:
        return None if self.ended else self._silence_at

    # --- events -------------------------------------------------------------------------------

    def start(self, now: datetime) -> list[Say | EndCall]:
        return self._ask(now)

    def turn_finished(self, now: datetime) -> list[Say | EndCall]:
        if not self.ended:
            self._silence_at = now + self.timeout
        return []

    def speech_started(self, now: datetime) -> list[Say | EndCall]:
        self._silence_at = None
        return []

    def tick(self, now: datetime) -> list[Say | EndCall]:
        if self.ended or self._silence_at is None or now < self._silence_at:
            return []
        self._silence_at = None
        return self._miss(now, "no_input")

    def dtmf(self, digit: str, now: datetime) -> list[Say | EndCall]:
        if self.ended:
            return []
        self.transcript.append(TranscriptEntry(now, "caller", f"[key {digit}]"))
        if digit in self.keys:
            return self._rated(int(digit), "key", digit)
        return self._miss(now, "invalid")

    def utterance(self, text: str, now: datetime, understanding: Any = None) -> list[Say | EndCall]:
        if self.ended:
            return []
        self.transcript.append(TranscriptEntry(now, "caller", text))
        score = parse_score(text)
        if score is not None and str(score) in self.keys:
            return self._rated(score, "speech", text)
        return self._miss(now, "invalid")

    def lookup_done(self, request_id: int, facts: Any, now: datetime) -> list[Say | EndCall]:
        return []  # the rating looks nothing up

    def lookup_failed(self, request_id: int, now: datetime) -> list[Say | EndCall]:
        return []

    def hangup(self, now: datetime) -> list[Say | EndCall]:
        self.ended = True
        self._silence_at = None
        return []

    # --- decisions ----------------------------------------------------------------------------

    def _ask(self, now: datetime) -> list[Say | EndCall]:
        text = self.prompts[self._asked]
        self._asked += 1
        self._silence_at = None  # starts when the prompt has been played (turn_finished)
        self.transcript.append(TranscriptEntry(now, "bot", text))
        return [Say((text,))]

    def _miss(self, now: datetime, kind: str) -> list[Say | EndCall]:
        if self._asked < len(self.prompts):
            return self._ask(now)
        return self._end(RatingAnswer(None, None, "", self._asked, kind))

    def _rated(self, score: int, via: Literal["key", "speech"], heard: str) -> list[Say | EndCall]:
        return self._end(RatingAnswer(score, via, heard, self._asked, "rated"))

    def _end(self, answer: RatingAnswer) -> list[Say | EndCall]:
        self.answer = answer
        self.ended = True
        self._silence_at = None
        return [EndCall(answer.reason)]
