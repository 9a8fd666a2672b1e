"""Callbacks (issue 11, docs/decisions/0008): the pure part.  No I/O; times come in as `now`.

* `OfferDialog`: the keys of a caller waiting in the queue, from the callback key to a
  confirmed number (or back to waiting);
* `queue_place`: where a callback request joins the pool queue so that it keeps its place
  relative to the callers still waiting (Asterisk orders by priority, then arrival);
* `due` and `after_failed_try`: which requests are dialled now, and what a try that did not
  reach the caller leads to (another try later, or `failed`);
* `OpeningHours`: when callbacks may be placed (the dialplan's business hours);
* `callback_display`: what the operator's phone shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Literal

from callrouting.policy import _clean

# a number the service dials: E.164 or digits keyed by the caller; nothing else reaches a
# dial string (Dial(PJSIP/<number>@hotline-callers))
NUMBER = re.compile(r"^\+?[0-9]{5,15}$")
KEYED_MIN, KEYED_MAX = 5, 15  # digits a caller may key as their number
DISPLAY_MAX = 80
FAILED_REASON = "callback_failed"


def valid_number(number: str | None) -> str | None:
    """The number if it is one the service may dial, else None."""
    return number if number is not None and NUMBER.fullmatch(number) else None


# ---------------------------------------------------------------- the offer while waiting

OfferAction = Literal["ask", "confirmed", "back", "ignored"]


@dataclass
class OfferDialog:
    """A caller in Queue() presses keys (Asterisk's DTMF events); the service whispers.

    idle --key--> asking (say `confirm(caller's number)`) --key--> confirmed (caller's number)
                         --digits #--> confirmed (those digits)
                         --operator key, *, a bad number, `timeout` s--> idle ("back")
    While idle only the callback key counts.  A caller without a usable caller ID must key
    their number."""

    key: str
    operator_key: str
    caller_number: str | None
    timeout: float = 10.0
    state: Literal["idle", "asking", "confirmed"] = "idle"
    keyed: str = ""
    number: str | None = None
    deadline: float | None = None

    def press(self, digit: str, now: float) -> OfferAction:
        if self.state == "confirmed":
            return "ignored"
        if self.state == "idle":
            if digit != self.key:
                return "ignored"
            self.state, self.keyed, self.deadline = "asking", "", now + self.timeout
            return "ask"
        self.deadline = now + self.timeout  # asking: every key gives the caller more time
        if digit == self.key and not self.keyed and valid_number(self.caller_number):
            return self._confirm(self.caller_number)
        if digit == self.operator_key and not self.keyed or digit == "*":
            return self._back()
        if digit == "#":
            number = self.keyed if KEYED_MIN <= len(self.keyed) <= KEYED_MAX else None
            return self._confirm(number) if valid_number(number) else self._back()
        if digit.isdigit():
            self.keyed += digit
            if len(self.keyed) > KEYED_MAX:
                return self._back()
        return "ignored"

    def tick(self, now: float) -> OfferAction:
        if self.state == "asking" and self.deadline is not None and now >= self.deadline:
            return self._back()
        return "ignored"

    @property
    def active(self) -> bool:
        """The caller is in the dialog: no wait announcement talks over it."""
        return self.state != "idle"

    def _confirm(self, number: str | None) -> OfferAction:
        self.state, self.number, self.deadline = "confirmed", number, None
        return "confirmed"

    def _back(self) -> OfferAction:
        self.state, self.keyed, self.deadline = "idle", "", None
        return "back"


def word_key(word: str, dialog: OfferDialog) -> str | None:
    """A word the caller said in the queue (`callrouting.events.QUEUE_WORDS`) as the key it
    stands for in `dialog`, or None (nothing to do).  "callback" is the callback key (idle:
    ask; asking: confirm the caller ID), "yes" is the key while asking, "operator" and "no"
    are the operator key while asking (back to waiting: the caller is in the queue already).
    The machine does not change; a caller whose caller ID cannot be read back keys digits."""
    if word == "callback":
        return dialog.key if dialog.state in ("idle", "asking") else None
    if dialog.state != "asking":
        return None
    if word == "yes":
        return dialog.key
    if word in ("operator", "no"):
        return dialog.operator_key
    return None


# ---------------------------------------------------------------- place and order


@dataclass(frozen=True)
class Waiter:
    """A caller or request waiting for the pool: higher priority first, then who joined first."""

    priority: int
    joined_at: datetime


def order_key(w: Waiter) -> tuple[int, datetime]:
    return (-w.priority, w.joined_at)


def queue_place(request: Waiter, waiting: Iterable[Waiter]) -> int:
    """1-based place for `request` among the callers still waiting in the queue: after
    everyone who is ahead of it (Queue()'s `position` argument)."""
    return 1 + sum(1 for w in waiting if order_key(w) < order_key(request))


@dataclass(frozen=True)
class Request:
    """A callbacks row, as the dispatcher needs it."""

    id: int
    priority: int
    joined_at: datetime  # queue_joined_at, else requested_at
    next_attempt_at: datetime | None = None

    @property
    def waiter(self) -> Waiter:
        return Waiter(self.priority, self.joined_at)


def due(requests: Iterable[Request], now: datetime, is_open: Callable[[datetime], bool]
        ) -> list[Request]:
    """The requests to place now, first in the queue's order first: their retry time has come
    and callbacks may be placed now."""
    if not is_open(now):
        return []
    ready = [r for r in requests if r.next_attempt_at is None or r.next_attempt_at <= now]
    return sorted(ready, key=lambda r: (order_key(r.waiter), r.id))


@dataclass(frozen=True)
class TryResult:
    state: Literal["pending", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    reason: str | None


def after_failed_try(attempts_before: int, max_attempts: int, retry_after_s: float,
                     now: datetime, why: str) -> TryResult:
    """A try that did not reach the caller (no answer, busy, unreachable): try again after
    `retry_after_s` until `max_attempts` tries were made, then `failed`."""
    attempts = attempts_before + 1
    if attempts >= max_attempts:
        return TryResult("failed", attempts, None, f"{FAILED_REASON}: {why}")
    return TryResult("pending", attempts, now + timedelta(seconds=retry_after_s), why)


# ---------------------------------------------------------------- business hours


@dataclass(frozen=True)
class OpeningHours:
    """weekday (0 = Monday) -> [(start, end) minutes] in `tz`; holidays closed.  `always`:
    no hours configured (or the dialplan does not limit callbacks): always open."""

    tz: tzinfo
    week: Mapping[int, Sequence[tuple[int, int]]]
    holiday: Callable[[date], bool] = lambda _d: False
    always: bool = False

    def is_open(self, now: datetime) -> bool:
        if self.always:
            return True
        local = now.astimezone(self.tz)
        if self.holiday(local.date()):
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week.get(local.weekday(), ()))

    def next_opening(self, now: datetime) -> datetime | None:
        """`now` if open, else the next moment it opens (within two weeks); None: never."""
        if self.is_open(now):
            return now
        local = now.astimezone(self.tz)
        for days in range(15):
            day = local.date() + timedelta(days=days)
            if self.holiday(day):
                continue
            for start, _end in sorted(self.week.get(day.weekday(), ())):
                at = datetime.combine(day, time(start // 60, start % 60), self.tz)
                if at > local:
                    return at.astimezone(now.tzinfo)
        return None


# ---------------------------------------------------------------- the operator's phone


def callback_display(base: str, *, waited_s: float | None, kind: str = "callback") -> str:
    """E.g. "Callback: VIP Maria Ivanova - ticket check, waited 6 min" (the caller's wait
    before asking, in whole minutes; under a minute: "waited under 1 min").  Only the characters
    the routing display allows (no quotes, commas inside the name part, semicolons)."""
    prefix = "Callback" if kind == "callback" else "Call back"
    text = f"{prefix}: {_clean(base) or 'Caller'}"
    if waited_s is not None:
        minutes = int(waited_s // 60)
        text += f", waited {minutes} min" if minutes >= 1 else ", waited under 1 min"
    return text[:DISPLAY_MAX].rstrip(" -,")
