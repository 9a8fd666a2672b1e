"""The bot's conversation state machine, pure.

Events come in as method calls that take `now` (a tz-aware datetime) and return effects; the
async wrapper carries the effects out (TTS, database lookup, leaving AudioSocket for routing) and
calls `tick(now)` at `next_deadline`. No I/O and no clock reads here.

Rules:
- "operator" (any phrasing) transfers at once. Key 0 transfers at once, except while the bot is
  collecting a keyed-in ticket number: then a lone 0 transfers when no further key follows within
  `dtmf_digit_timeout` (ticket numbers may start with 0).
- Misses (not understood or low confidence): the first gets a help prompt, the second offers the
  operator ("Say yes or press 0"), the third transfers.
- Unsure between two questions ("the next draw results"): the bot asks which ("Do you want the
  winning numbers or the next draw time?") instead of counting a miss, and takes the answer by
  voice ("the numbers", "the first one") or key (1 or 2); "operator" and key 0 still transfer.
- Silence after the bot finished speaking: re-prompt once, then transfer.
- A ticket number can be keyed in: digits then #; * clears what was keyed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from lottery import answers
from lottery.answers import Facts, Lookup
from voicebot.intents import (
    AFFIRM,
    CHECK_TICKET,
    CHOICE_LABELS,
    DENY,
    MIN_TICKET_DIGITS,
    OPERATOR,
    UNKNOWN,
    DialogContext,
    Understanding,
    choose,
    understand,
)

__all__ = [
    "AskLookup",
    "Conversation",
    "Dialog",
    "DialogSettings",
    "Effect",
    "EndCall",
    "Say",
    "Transfer",
    "TransferContext",
    "TranscriptEntry",
    "clarifying_question",
]


# --- effects ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Say:
    sentences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AskLookup:
    request_id: int
    lookup: Lookup


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    at: datetime
    speaker: str  # "caller" | "bot"
    text: str
    # caller: how the bot understood the utterance (or the key picked); bot: the question its
    # answer answers ("next_draw", ...) or "operator" for the transfer; None for prompts
    intent: str | None = None


@dataclass(frozen=True, slots=True)
class TransferContext:
    """What routing and the operator's screen get from the bot."""

    reason: str  # "asked" | "dtmf_0" | "misses" | "silence" | "lookup_failed"
    intent: str | None
    slots: dict[str, Any]
    transcript: tuple[TranscriptEntry, ...]


@dataclass(frozen=True, slots=True)
class Transfer:
    context: TransferContext


@dataclass(frozen=True, slots=True)
class EndCall:
    reason: str


Effect = Say | AskLookup | Transfer | EndCall


class Conversation(Protocol):
    """What `DialogProcessor` and `BotSession` drive: `Dialog`, or the rating's dialog."""

    transcript: list[TranscriptEntry]

    @property
    def next_deadline(self) -> datetime | None: ...

    @property
    def last_intent(self) -> str | None: ...

    @property
    def last_slots(self) -> dict[str, Any]: ...

    def start(self, now: datetime) -> Sequence[Effect]: ...

    def tick(self, now: datetime) -> Sequence[Effect]: ...

    def turn_finished(self, now: datetime) -> Sequence[Effect]: ...

    def speech_started(self, now: datetime) -> Sequence[Effect]: ...

    def hangup(self, now: datetime) -> Sequence[Effect]: ...

    def utterance(self, text: str, now: datetime) -> Sequence[Effect]: ...

    def dtmf(self, digit: str, now: datetime) -> Sequence[Effect]: ...

    def lookup_done(self, request_id: int, facts: Facts, now: datetime) -> Sequence[Effect]: ...

    def lookup_failed(self, request_id: int, now: datetime) -> Sequence[Effect]: ...


@dataclass(frozen=True, slots=True)
class DialogSettings:
    silence_timeout: timedelta = timedelta(seconds=7)
    dtmf_digit_timeout: timedelta = timedelta(seconds=4)
    lookup_timeout: timedelta = timedelta(seconds=5)
    min_confidence: float = 0.5
    max_misses: int = 3  # the miss that transfers
    max_silences: int = 2  # the silence that transfers


GREETING = (
    "Hello, this is the lottery hotline assistant.",
    "You can ask me to check a ticket, about the next draw, the winning numbers, or how to claim "
    "a prize. To talk to an operator, say operator or press 0.",
)
HELP = "Sorry, I did not understand. You can ask about your ticket, the next draw, the winning numbers, or how to claim a prize."  # noqa: E501
OFFER_OPERATOR = "Shall I put you through to an operator? Say yes or press 0."
REPROMPT = "Are you still there? How can I help you?"
ANYTHING_ELSE = "Is there anything else I can help you with?"
WHAT_ELSE = "What would you like to know?"
GOODBYE = "Thank you for calling. Goodbye!"
TRANSFERRING = "Connecting you to an operator. Please stay on the line."
KEY_TICKET = "Please key in your ticket number and press the hash key."


def clarifying_question(options: Sequence[str]) -> tuple[str, str]:
    """"Do you want the winning numbers or the next draw time?" and how to answer it."""
    a, b = (CHOICE_LABELS[o] for o in options[:2])
    return (f"Do you want {a} or {b}?", f"Say which one, or press 1 for {a}, or 2 for {b}.")


class Dialog:
    def __init__(self, settings: DialogSettings | None = None) -> None:
        self.settings = settings or DialogSettings()
        self.transcript: list[TranscriptEntry] = []
        self.ended = False
        self.expecting: str | None = None  # "ticket" | "game" | "confirm" | "more" | "choice"
        self.last_intent: str | None = None
        self.last_slots: dict[str, Any] = {}
        self.misses = 0
        self.silences = 0
        self._keyed = ""
        self._silence_at: datetime | None = None
        self._dtmf_at: datetime | None = None
        self._lookup_at: datetime | None = None
        self._pending: tuple[int, str, dict[str, Any]] | None = None
        self._next_request = 1
        self._choices: tuple[str, ...] = ()  # the two questions the bot asked the caller about
        self._choice_slots: dict[str, Any] = {}
        self.clarified = 0  # requests understood through a clarifying question

    # --- timers -------------------------------------------------------------------------------

    @property
    def next_deadline(self) -> datetime | None:
        if self.ended:
            return None
        times = [t for t in (self._silence_at, self._dtmf_at, self._lookup_at) if t is not None]
        return min(times, default=None)

    def tick(self, now: datetime) -> list[Effect]:
        if self.ended:
            return []
        if self._lookup_at is not None and now >= self._lookup_at:
            self._lookup_at = None
            self._pending = None
            return self._transfer(now, "lookup_failed",
                                  prefix="Sorry, I cannot look that up right now.")  # fmt: skip
        if self._dtmf_at is not None and now >= self._dtmf_at:
            self._dtmf_at = None
            return self._keyed_timeout(now)
        if self._silence_at is not None and now >= self._silence_at:
            self._silence_at = None
            self.silences += 1
            if self.silences >= self.settings.max_silences:
                return self._transfer(now, "silence")
            return self._say(now, REPROMPT)
        return []

    # --- events -------------------------------------------------------------------------------

    def start(self, now: datetime) -> list[Effect]:
        return self._say(now, *GREETING)

    def turn_finished(self, now: datetime) -> list[Effect]:
        """The bot finished speaking: the caller's turn; start the silence timer."""
        if not self.ended and self._pending is None and not self._keyed:
            self._silence_at = now + self.settings.silence_timeout
        return []

    def speech_started(self, now: datetime) -> list[Effect]:
        self._silence_at = None
        return []

    def hangup(self, now: datetime) -> list[Effect]:
        self._finish()
        return []

    def utterance(
        self, text: str, now: datetime, understanding: Understanding | None = None
    ) -> list[Effect]:
        if self.ended:
            return []
        self._caller_acted()
        u = understanding or understand(text, self.context(now))
        entry = TranscriptEntry(now, "caller", text, u.intent)
        self.transcript.append(entry)
        if self.expecting == "choice" and u.intent != OPERATOR:
            picked = choose(text, self._choices)
            if picked is not None:
                self.transcript[-1] = dataclasses.replace(entry, intent=picked)
                return self._chosen(picked, u.slots, now)
            if u.intent == DENY:
                self.expecting = None
                return self._say(now, WHAT_ELSE)
        return self._handle(u, now)

    def dtmf(self, digit: str, now: datetime) -> list[Effect]:
        if self.ended:
            return []
        self._caller_acted()
        if digit == "0" and not self._keyed and self.expecting not in ("ticket", "keyed"):
            self.transcript.append(TranscriptEntry(now, "caller", "[key 0]", OPERATOR))
            return self._transfer(now, "dtmf_0")
        if self.expecting == "choice" and not self._keyed and digit in ("1", "2"):
            picked = self._choices[int(digit) - 1]
            self.transcript.append(TranscriptEntry(now, "caller", f"[key {digit}]", picked))
            return self._chosen(picked, {}, now)
        if digit == "*":
            self._keyed = ""
            self._dtmf_at = None
            return []
        if digit == "#":
            self._dtmf_at = None
            keyed, self._keyed = self._keyed, ""
            return self._keyed_done(keyed, now)
        if digit.isdigit():
            self._keyed += digit
            self._dtmf_at = now + self.settings.dtmf_digit_timeout
        return []

    def lookup_done(self, request_id: int, facts: Facts, now: datetime) -> list[Effect]:
        if self.ended or self._pending is None or self._pending[0] != request_id:
            return []  # stale: the caller moved on
        _, intent, slots = self._pending
        self._pending = None
        self._lookup_at = None
        return self._answer(intent, slots, facts, now)

    def lookup_failed(self, request_id: int, now: datetime) -> list[Effect]:
        if self.ended or self._pending is None or self._pending[0] != request_id:
            return []
        self._pending = None
        self._lookup_at = None
        return self._transfer(
            now, "lookup_failed", prefix="Sorry, I cannot look that up right now."
        )

    # --- decisions ----------------------------------------------------------------------------

    def context(self, now: datetime) -> DialogContext:
        expecting = "ticket" if self.expecting == "keyed" else self.expecting
        return DialogContext(today=now.date(), expecting=expecting, last_intent=self.last_intent)

    def _handle(self, u: Understanding, now: datetime) -> list[Effect]:
        if u.intent == OPERATOR:
            return self._transfer(now, "asked", intent=u.intent, slots=u.slots)
        if self.expecting == "confirm":
            if u.intent == AFFIRM:
                return self._transfer(now, "misses")
            if u.intent == DENY:
                self.misses = 0
                self.expecting = None
                return self._say(now, WHAT_ELSE)
        if self.expecting == "more" and u.intent in (DENY, AFFIRM):
            if u.intent == DENY:
                return self._say(now, GOODBYE) + self._end("done")
            self.expecting = None
            return self._say(now, WHAT_ELSE)
        if u.intent in (UNKNOWN, AFFIRM, DENY) or u.confidence < self.settings.min_confidence:
            if len(u.alternatives) == 2 and self.expecting != "choice":
                return self._clarify(u, now)
            if self.expecting == "choice":  # asked once already: no second "which one?"
                self.expecting, self._choices, self._choice_slots = None, (), {}
            return self._miss(now)
        self.misses = 0
        slots = dict(u.slots)
        if u.intent == self.last_intent and self.expecting in ("ticket", "game", "keyed"):
            slots = {**self.last_slots, **slots}  # the caller answered the bot's question
        return self._request(u.intent, slots, now)

    def _request(self, intent: str, slots: dict[str, Any], now: datetime) -> list[Effect]:
        self.last_intent = intent
        self.last_slots = slots
        self.expecting = None
        lookup = answers.lookup_for(intent, slots)
        if lookup is None:
            return self._answer(intent, slots, None, now)
        request_id = self._next_request
        self._next_request += 1
        self._pending = (request_id, intent, slots)
        self._lookup_at = now + self.settings.lookup_timeout
        return [AskLookup(request_id, lookup)]

    def _answer(
        self, intent: str, slots: dict[str, Any], facts: Facts | None, now: datetime
    ) -> list[Effect]:
        answer = answers.compose(intent, slots, facts, now)
        self.last_slots = {**slots, **answer.slots}
        if answer.needs:
            self.expecting = answer.needs
            return self._say(now, *answer.sentences)
        self.expecting = "more"
        said = self._say(now, *answer.sentences, ANYTHING_ELSE, about=intent)
        self.transcript[-1] = dataclasses.replace(self.transcript[-1], intent=None)
        return said

    def _clarify(self, u: Understanding, now: datetime) -> list[Effect]:
        """Ask which of two questions the caller means; not counted as a miss."""
        self.expecting = "choice"
        self._choices = u.alternatives[:2]
        self._choice_slots = dict(u.slots)
        return self._say(now, *clarifying_question(self._choices))

    def _chosen(self, intent: str, slots: dict[str, Any], now: datetime) -> list[Effect]:
        self.misses = 0
        self.clarified += 1
        merged = {**self._choice_slots, **slots}
        self._choices, self._choice_slots = (), {}
        return self._request(intent, merged, now)

    def _miss(self, now: datetime) -> list[Effect]:
        self.misses += 1
        if self.misses >= self.settings.max_misses:
            return self._transfer(now, "misses")
        if self.misses == self.settings.max_misses - 1:
            self.expecting = "confirm"
            return self._say(now, OFFER_OPERATOR)
        return self._say(now, HELP)

    def _keyed_done(self, keyed: str, now: datetime) -> list[Effect]:
        self.transcript.append(TranscriptEntry(now, "caller", f"[keyed {keyed}#]"))
        if len(keyed) < MIN_TICKET_DIGITS:
            self.expecting = "keyed"
            return self._say(now, KEY_TICKET)
        self.misses = 0
        return self._request(CHECK_TICKET, {**self._carry_slots(), "ticket": keyed}, now)

    def _keyed_timeout(self, now: datetime) -> list[Effect]:
        keyed, self._keyed = self._keyed, ""
        if keyed == "0":
            self.transcript.append(TranscriptEntry(now, "caller", "[key 0]", OPERATOR))
            return self._transfer(now, "dtmf_0")
        if len(keyed) >= MIN_TICKET_DIGITS:
            return self._keyed_done(keyed, now)
        self.expecting = "keyed"
        return self._say(now, KEY_TICKET)

    def _carry_slots(self) -> dict[str, Any]:
        return dict(self.last_slots) if self.last_intent == CHECK_TICKET else {}

    def _caller_acted(self) -> None:
        self._silence_at = None
        self.silences = 0

    # --- effects ------------------------------------------------------------------------------

    def _say(self, now: datetime, *sentences: str, about: str | None = None) -> list[Effect]:
        """`about`: the question these sentences answer (tagged on their transcript entries)."""
        for sentence in sentences:
            self.transcript.append(TranscriptEntry(now, "bot", sentence, about))
        return [Say(tuple(sentences))]

    def _transfer(
        self,
        now: datetime,
        reason: str,
        *,
        intent: str | None = None,
        slots: dict[str, Any] | None = None,
        prefix: str | None = None,
    ) -> list[Effect]:
        sentences = (prefix, TRANSFERRING) if prefix else (TRANSFERRING,)
        said = self._say(now, *sentences)
        self.transcript[-1] = dataclasses.replace(self.transcript[-1], intent=OPERATOR)
        context = TransferContext(
            reason=reason,
            intent=self.last_intent if intent in (None, OPERATOR) else intent,
            slots={**self.last_slots, **(slots or {})},
            transcript=tuple(self.transcript),
        )
        self._finish()
        return [*said, Transfer(context)]

    def _end(self, reason: str) -> list[Effect]:
        self._finish()
        return [EndCall(reason)]

    def _finish(self) -> None:
        self.ended = True
        self._silence_at = self._dtmf_at = self._lookup_at = None
        self._pending = None
