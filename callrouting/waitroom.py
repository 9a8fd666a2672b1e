"""The callers waiting in the pool queues, as the service sees them, and what they hear.

One `WaitingRoom` per service.  The executor registers a caller right before `Queue()`
(`join`), reports the answer and the end of the talk, and runs `announce` beside the
`Queue()` for a caller whose front end gave a `WaitAnnouncer`.  Places follow Asterisk's
order (priority, then arrival); estimates come from `callrouting.waiting` over this
queue's recent answered calls and the operators free or on calls.

An announcement reaches the caller without taking them out of the queue (they keep their
place, and an operator freeing up mid-sentence is not missed): a `Whisper`
(`hotline.pbx.whisper.Whisperer`) has a Local channel play the rendered prompt and whisper it
to the caller with ChanSpy, over the music (docs/decisions/0006).  Each one is stored as a
call event `queue.announcement` with the exact text (`played`: Asterisk took it).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import structlog

from callrouting.events import WaitAnnouncer, WaitEstimate, WaitingCaller
from callrouting.waiting import (
    DEFAULT_CYCLE_S,
    Waiting,
    WaitSample,
    estimate_wait,
    queue_line,
    queue_position,
)

log = structlog.get_logger("callrouting.waitroom")

_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.@\-]{0,120}$")
MAX_PROMPT_S = 30.0  # no announcement lasts longer: after that there is nothing left to stop
MAX_SAMPLES = 50  # recent answered calls per queue the estimate learns from

Staff = Callable[[], tuple[int, int]]  # (free, busy) operators who take this queue's calls
# queue -> the callback requests to be placed there and not on the line yet (the callback desk)
Pending = Callable[[str], list[Waiting]]
# call (id or hotline.db CallRef), kind, data -> a future of the write, or an awaitable
EventSink = Callable[[Any, str, dict[str, Any]], Any]


class Whisper(Protocol):
    """Says a sound to a channel without taking it out of what it is doing."""

    async def say(self, channel: str, sound: str) -> bool: ...

    async def stop(self, channel: str) -> None: ...


@dataclass
class _Entry:
    queue: str
    waiting: Waiting
    joined: float  # time.monotonic()
    staff: Staff
    ahead: int = 1
    busy: int = 1
    answered: float | None = None
    vip: bool = False
    call: Any = None  # the call's id, or a RowRef whose id is set once its row is stored
    joined_at: datetime | None = None  # wall clock, for the wallboard


class WaitingRoom:
    def __init__(self, *, events: EventSink | None = None, whisper: Whisper | None = None,
                 wrapup_s: float = 0.0, default_cycle_s: float = DEFAULT_CYCLE_S):
        self.events = events
        self.whisper = whisper  # None: announcements are chosen and stored, not played
        self.wrapup_s = wrapup_s  # the queue's wrap-up (the service sets it from the dialplan)
        self.default_cycle_s = default_cycle_s
        self._entries: dict[str, _Entry] = {}
        self._samples: dict[str, deque[WaitSample]] = {}
        self._sample_of: dict[str, tuple[str, WaitSample]] = {}  # key -> (queue, its sample)
        self._seq = itertools.count()
        self._speaking: dict[str, float] = {}  # caller key -> when its last whisper began
        self._rested: dict[str, float] = {}  # extension -> end of its wrap-up (monotonic)
        # callbacks not placed yet count as callers ahead (set by callrouting.callback_desk)
        self.pending: Pending | None = None

    # ---- who waits

    def join(self, queue: str, key: str, priority: int, staff: Staff, *, vip: bool = False,
             call_id: Any = None, joined_at: datetime | None = None,
             since: float | None = None, callback: int | None = None) -> None:
        """`since` (monotonic) is where the caller stands in the order, now if None; a
        callback's Local channel (`callback`: its row id) stands at its caller's join."""
        free, busy = staff()
        now = time.monotonic()
        order = Waiting(key, priority, next(self._seq), now if since is None else since, callback)
        entry = _Entry(queue, order, now, staff, vip=vip, call=call_id, joined_at=joined_at)
        self._entries[key] = entry
        entry.ahead = max(0, self.position(key) - free)
        entry.busy = busy

    def position(self, key: str) -> int:
        entry = self._entries.get(key)
        if entry is None:
            return 0
        return queue_position(self._waiting(entry.queue), key, self._pending(entry.queue))

    def _waiting(self, queue: str) -> list[Waiting]:
        return [e.waiting for e in self._entries.values()
                if e.queue == queue and e.answered is None]

    def _pending(self, queue: str) -> list[Waiting]:
        if self.pending is None:
            return []
        try:
            return self.pending(queue)
        except Exception:  # the places are a courtesy: never let them break a call
            log.exception("waitroom.pending_failed")
            return []

    def waiting_since(self, queue: str) -> list[tuple[str, int, float]]:
        """(key, priority, time.monotonic() of joining) of the callers waiting in `queue` and
        not answered yet: where a callback request joins (callrouting.callback_desk)."""
        return [(key, e.waiting.priority,
                 e.waiting.since if e.waiting.since is not None else e.joined)
                for key, e in self._entries.items() if e.queue == queue and e.answered is None]

    def waiting_count(self, queue: str) -> int:
        """Everyone in the line: callers, placed callbacks and callbacks about to be placed."""
        return len(queue_line(self._waiting(queue), self._pending(queue)))

    def snapshot(self) -> list[WaitingCaller]:
        """The callers on the line waiting now (not yet answered), queue by queue in order.

        This process's callers only: with several service nodes each has its own room, and a
        wallboard over all of them reads the shared database instead (a call row with
        `queue_joined_at` set, no `queue_wait_ms` and no end is a caller waiting now)."""
        now = time.monotonic()
        out = []
        for queue in sorted({e.queue for e in self._entries.values()}):
            waiting, pending = self._waiting(queue), self._pending(queue)
            for e in self._entries.values():
                # a callback's Local channel is not a caller on the line: the wallboard counts
                # its callbacks row (once), not its queue entry as well
                if e.queue != queue or e.answered is not None or e.waiting.callback is not None:
                    continue
                call = e.call
                call_id = call if isinstance(call, int) else getattr(call, "id", None)
                out.append(WaitingCaller(
                    uniqueid=e.waiting.key, queue=queue,
                    position=queue_position(waiting, e.waiting.key, pending),
                    waited_s=round(now - e.joined, 3), joined_at=e.joined_at,
                    priority=e.waiting.priority, vip=e.vip,
                    call_id=call_id if isinstance(call_id, int) else None))
        out.sort(key=lambda w: (w.queue, w.position))
        return out

    def answered(self, key: str) -> None:
        """An operator answered: the caller leaves the line; the wait becomes a sample."""
        entry = self._entries.get(key)
        if entry is None or entry.answered is not None:
            return
        entry.answered = time.monotonic()
        # a caller who found an operator free (ahead 0) says nothing about the handling cycle
        sample = WaitSample(entry.answered - entry.joined, entry.ahead, entry.busy)
        self._add_sample(entry.queue, key, sample)

    def talk_ended(self, key: str) -> None:
        entry = self._entries.get(key)
        if entry is None or entry.answered is None or key not in self._sample_of:
            return
        queue, sample = self._sample_of.pop(key)
        samples = self._samples.get(queue)
        if samples is not None and sample in samples:
            samples[samples.index(sample)] = replace(sample,
                                                     talked_s=time.monotonic() - entry.answered)

    def leave(self, key: str) -> None:
        """The caller left the queue (answered and done, hung up, timed out)."""
        self._entries.pop(key, None)
        self._sample_of.pop(key, None)

    def _add_sample(self, queue: str, key: str, sample: WaitSample) -> None:
        samples = self._samples.setdefault(queue, deque(maxlen=MAX_SAMPLES))
        samples.append(sample)
        self._sample_of[key] = (queue, sample)

    def samples(self, queue: str) -> list[WaitSample]:
        return list(self._samples.get(queue, ()))

    def estimate(self, key: str, vip: bool = False) -> WaitEstimate | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        free, busy = entry.staff()
        return estimate_wait(
            self.position(key), waiting=self.waiting_count(entry.queue), free=free, busy=busy,
            samples=self.samples(entry.queue), wrapup_s=self.wrapup_s,
            default_cycle_s=self.default_cycle_s, vip=vip,
        )

    # ---- operators' wrap-up (Asterisk's `wrapuptime` covers the queue; this covers Dial)

    def call_ended(self, extension: str) -> None:
        """An operator's routed call ended: no Dial rings them until the wrap-up is over."""
        if self.wrapup_s > 0:
            self._rested[extension] = time.monotonic() + self.wrapup_s

    def in_wrapup(self, extension: str) -> bool:
        until = self._rested.get(extension)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self._rested[extension]
            return False
        return True

    # ---- what the caller hears

    async def announce(self, channel: str, key: str, call_id: Any,
                       announcer: WaitAnnouncer, answered: asyncio.Event, *,
                       vip: bool = False, joined: asyncio.Event | None = None,
                       ringing: Callable[[], bool] = lambda: False) -> None:
        """On entering the queue and every `announcer.interval` s until answered or cancelled.

        Not while an operator's phone rings for the caller (they hear ringing then, and the
        answer may come mid-sentence), nor on entering when an operator is free to take them."""
        if not _CHANNEL_NAME.fullmatch(channel):
            log.warning("queue.announce_skipped", reason="unexpected channel name", uniqueid=key)
            return
        if joined is not None:
            try:
                async with asyncio.timeout(5):
                    await joined.wait()
            except TimeoutError:
                log.warning("queue.join_not_seen", uniqueid=key)
        try:
            await self._loop(channel, key, call_id, announcer, answered, vip, ringing)
        finally:
            began = self._speaking.pop(key, None)
            if began is not None and answered.is_set() and self.whisper is not None \
                    and time.monotonic() - began < MAX_PROMPT_S:
                # answered mid-sentence: the rest of the prompt must not talk over the operator
                try:
                    await self.whisper.stop(channel)
                except Exception:
                    log.exception("queue.whisper_not_stopped", uniqueid=key)

    async def _loop(self, channel: str, key: str, call_id: Any,
                    announcer: WaitAnnouncer, answered: asyncio.Event, vip: bool,
                    ringing: Callable[[], bool]) -> None:
        count = 0
        rounds = 0
        while not answered.is_set():
            estimate = self.estimate(key, vip)
            if estimate is None:
                return
            rounds += 1
            if ringing() or (rounds == 1 and estimate.seconds == 0):
                log.info("queue.announcement_skipped", uniqueid=key, ringing=ringing(),
                         position=estimate.position)
                await _wait(answered, announcer.interval)
                continue
            text = announcer.text(estimate)
            played = await self._play(channel, key, announcer, text, answered)
            count += 1
            data = {"text": text, "language": announcer.language, "position": estimate.position,
                    "waiting": estimate.waiting, "known": estimate.known,
                    "minutes": estimate.minutes, "seconds": estimate.seconds,
                    "less_than_a_minute": estimate.less_than_a_minute, "vip": vip,
                    "played": played, "n": count}
            log.info("queue.announced", uniqueid=key, **data)
            if self.events is not None and call_id is not None:
                try:
                    stored = self.events(call_id, "queue.announcement", data)
                    if isinstance(stored, asyncio.Future):  # the write path stores it behind us
                        stored.add_done_callback(_retrieved)
                    elif inspect.isawaitable(stored):
                        await stored
                except Exception:
                    log.exception("queue.announcement_not_stored", uniqueid=key)
            await _wait(answered, announcer.interval)

    async def _play(self, channel: str, key: str, announcer: WaitAnnouncer, text: str,
                    answered: asyncio.Event) -> bool:
        if self.whisper is None:
            return False
        try:
            sound = await announcer.sound(text)
        except Exception:
            log.exception("queue.announcement_not_rendered", uniqueid=key)
            return False
        if answered.is_set():
            return False
        try:
            self._speaking[key] = time.monotonic()
            ok = await self.whisper.say(channel, sound)
        except Exception as exc:
            log.warning("queue.announcement_failed", uniqueid=key, error=str(exc))
            return False
        if not ok:
            log.warning("queue.announcement_failed", uniqueid=key)
        return ok


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:  # the write path logged it
        log.warning("queue.announcement_not_stored", error=repr(future.exception()))


async def _wait(event: asyncio.Event, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        pass
