"""Routing's port types: the request to put a caller through to a person, and its result."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Transfer:
    """Route to a person; `context` carries reason, intent, vip, variables, etc."""

    context: Mapping[str, Any]


@dataclass(frozen=True)
class TransferResult:
    # callback: the caller asked to be called back while waiting (a callbacks row keeps
    # their place); they heard the goodbye and the call ends
    outcome: Literal["answered", "failed", "callback"]


@dataclass(frozen=True)
class WaitEstimate:
    """What a caller waiting in the pool is told: their place and how long it should take.

    `minutes` is None for "less than a minute" and when there is no estimate (`known` False:
    nobody is logged in to take calls); `callrouting.waiting.estimate_wait` makes it.
    """

    position: int  # 1 = next to be answered
    waiting: int  # callers waiting in the queue now, this one included
    known: bool
    seconds: float | None
    minutes: int | None
    vip: bool = False

    @property
    def less_than_a_minute(self) -> bool:
        return self.known and self.minutes is None


@dataclass(frozen=True)
class WaitAnnouncer:
    """How a front end (the IVR) has routing speak to one caller waiting in the pool queue.

    `text(estimate)` words the announcement in the caller's language; `sound(text)` turns it
    into a sound name Asterisk plays; routing says it on entering the queue and every
    `interval` seconds (docs/decisions/0005-queue-announcements.md).
    """

    interval: float
    text: Callable[[WaitEstimate], str]
    sound: Callable[[str], Awaitable[str]]
    language: str = "en"
    music: str | None = None  # music-on-hold class while waiting (None: Asterisk's default)
    callback: CallbackOffer | None = None  # the dialplan's `queue.callback`


@dataclass(frozen=True)
class WaitingCaller:
    """One caller on the line in a pool queue now, as the service's waiting room sees them
    (`callrouting.waitroom.WaitingRoom.snapshot`; the wallboard shows them)."""

    uniqueid: str
    queue: str
    position: int  # 1 = next to be answered (Asterisk's order: priority, then arrival)
    waited_s: float  # in the queue so far
    joined_at: datetime | None  # wall clock (UTC) of the join, as stored on the call row
    priority: int = 0
    vip: bool = False
    call_id: int | None = None  # None while the call's row is still on its way to the database


@dataclass(frozen=True)
class CallbackOffer:
    """A callback instead of waiting, as the front end words it (the dialplan's
    `queue.callback`): `key` while waiting asks for it, `confirm(number)` reads the number
    back, `key` again (or another number and #) confirms, `goodbye(number)` ends the call;
    `operator_key` or no key within `timeout` s returns the caller to waiting."""

    key: str
    confirm: Callable[[str], str]
    goodbye: Callable[[str], str]
    timeout: float = 10.0
    operator_key: str = "0"
    listen: bool = False  # also hear "call me back" (a QueueListener, if the service has one)


# what a caller waiting in the queue may say to the callback offer (voicebot.queue_words)
QUEUE_WORDS = ("callback", "operator", "yes", "no")


class QueueListener(Protocol):
    """Hears a caller waiting in Queue() without taking them out of it (the voice bot's
    gateway, docs/decisions/0008 addendum).  `listen(channel)` yields the words of
    `QUEUE_WORDS` the caller says, until it is closed (`aclose()`) or the caller goes; it
    yields nothing when no listener is free (the caller still has the keys)."""

    def listen(self, channel: str) -> AsyncIterator[str]: ...
