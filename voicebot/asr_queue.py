"""A bounded priority queue in front of a few decoders (the Whisper second pass).

Whisper decodes one utterance at a time per worker; when more turns want it than it can decode,
the order decides whose turn is answered well. Jobs wait here, not in the executor's FIFO, so
a turn the first pass did not understand at all (priority 0) is decoded before one it
understood with low confidence (1), and both before a speculative start on a partial
transcript (2); within a priority, first come first served. At most `slots` jobs are handed to
the executor at a time. The queue holds at most `max_queued` waiting jobs: when it is full, a
new job evicts the least urgent waiting one, or is itself refused when it is the least urgent;
either way the loser's future fails with `DecodeShed` at once, so its caller falls back to the
first pass without waiting. A waiting job can be withdrawn (`cancel()`) or made more urgent
(`prioritise()`); a running one only finishes.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["DecodeQueue", "DecodeShed", "QueuedJob"]


class DecodeShed(RuntimeError):
    """The job was refused or evicted because the queue was full of more urgent work."""


class QueuedJob(concurrent.futures.Future):  # type: ignore[type-arg]
    """The result of one queued job; `cancel()` withdraws it while it waits."""

    def __init__(self, queue: DecodeQueue, priority: int, seq: int,
                 start: Callable[[], concurrent.futures.Future[Any]]) -> None:  # fmt: skip
        super().__init__()
        self._queue = queue
        self.priority = priority
        self.seq = seq
        self.start = start
        self.started = False
        self.shed = False

    @property
    def key(self) -> tuple[int, int]:
        return self.priority, self.seq

    def cancel(self) -> bool:
        """Withdraw the job while it waits (True); a running or finished one cannot be."""
        if not self._queue._withdraw(self):
            return False
        return super().cancel()

    def prioritise(self, priority: int) -> None:
        """Make a waiting job at least as urgent as `priority` (lower is sooner)."""
        self._queue._prioritise(self, priority)


class DecodeQueue:
    """`finish(inner)` turns a finished executor future into the job's result (it may raise)."""

    def __init__(self, slots: int, max_queued: int,
                 finish: Callable[[concurrent.futures.Future[Any]], Any]) -> None:  # fmt: skip
        if slots < 1 or max_queued < 1:
            raise ValueError("a decode queue needs at least one slot and one place")
        self.slots = slots
        self.max_queued = max_queued
        self._finish = finish
        self._lock = threading.Lock()
        self._waiting: list[QueuedJob] = []
        self._running = 0
        self._seq = itertools.count()
        self.shed_count = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def ahead_of(self, priority: int) -> int:
        """Jobs a new job of `priority` would wait behind (running ones included)."""
        with self._lock:
            return self._running + sum(1 for j in self._waiting if j.priority <= priority)

    def submit(self, priority: int, start: Callable[[], concurrent.futures.Future[Any]]) -> QueuedJob:
        """Queue a job; `start()` hands it to the executor when a slot is free."""
        loser: QueuedJob | None = None
        with self._lock:
            job = QueuedJob(self, priority, next(self._seq), start)
            self._waiting.append(job)
            if len(self._waiting) > self.max_queued:
                loser = max(self._waiting, key=lambda j: j.key)
                self._waiting.remove(loser)
                loser.shed = True
                self.shed_count += 1
        if loser is not None:
            loser.set_exception(DecodeShed("the second-pass queue is full of more urgent turns"))
        self._dispatch()
        return job

    def _withdraw(self, job: QueuedJob) -> bool:
        with self._lock:
            if job in self._waiting:
                self._waiting.remove(job)
                return True
            return False

    def _prioritise(self, job: QueuedJob, priority: int) -> None:
        with self._lock:
            if job in self._waiting and priority < job.priority:
                job.priority = priority

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self._running >= self.slots or not self._waiting:
                    return
                job = min(self._waiting, key=lambda j: j.key)
                self._waiting.remove(job)
                job.started = True
                self._running += 1
            try:
                inner = job.start()
            except BaseException as exc:  # executor shut down: fail this job, free its slot
                with self._lock:
                    self._running -= 1
                job.set_exception(exc)
                continue
            inner.add_done_callback(lambda f, job=job: self._done(job, f))  # type: ignore[misc]

    def _done(self, job: QueuedJob, inner: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._running -= 1
        try:
            if inner.cancelled():
                concurrent.futures.Future.cancel(job)
            else:
                try:
                    job.set_result(self._finish(inner))
                except BaseException as exc:
                    job.set_exception(exc)
        finally:
            self._dispatch()

    def close(self) -> None:
        """Cancel every waiting job."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for job in waiting:
            concurrent.futures.Future.cancel(job)
