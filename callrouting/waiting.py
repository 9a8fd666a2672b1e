"""Where a caller stands in the pool queue and how long the wait should be.  Pure.

Asterisk's own estimate (`announce-holdtime`) is a running average of past hold times,
whatever the caller's place and whoever is at work.  This one follows the queue:

* the caller at place `p` needs `p - free` operators to become free first (an operator who
  is free now takes a call at once);
* an operator on a call becomes free, on average, one handling cycle after starting it:
  talk time of recent answered calls of this queue (their median, so one long call does
  not move it), plus the wrap-up time; with `busy` operators on calls, one frees up every
  `cycle / busy` seconds;
* without talk times yet, the cycle is learnt from recent waits: a call that waited `w`
  seconds for `k` operators to free up while `b` were busy saw a cycle of `w * b / k`;
  without either, a configured default.

Wording is rounded the way a person would say it: under a minute is "less than a minute",
then whole minutes up to ten, then steps of five; no estimate when nobody can take calls.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from callrouting.events import WaitEstimate

DEFAULT_CYCLE_S = 180.0  # no history at all: a three-minute call


@dataclass(frozen=True)
class WaitSample:
    """One recently answered call of the queue."""

    waited_s: float  # joined the queue -> answered
    ahead: int = 1  # operators that had to free up first (place at joining minus free then)
    busy: int = 1  # operators on calls while it waited
    talked_s: float | None = None  # answered -> hung up; None while still talking


@dataclass(frozen=True)
class Waiting:
    """One caller in the queue: higher `priority` first, then who came first (`since`, then
    `seq`).

    A callback request (`callback`: its row id) stands where its caller stood: its `since` is
    the caller's own join, not the moment its Local channel was placed, because that is where
    Asterisk put it (Queue()'s `position`, `callbacks.queue_place`).  A request not placed yet
    (pending, due) is in `queue_line`'s `pending`: it is ahead of whoever it will be put
    ahead of."""

    key: str
    priority: int
    seq: int
    since: float | None = None  # ordering time (monotonic); None: its arrival order only
    callback: int | None = None


def _order(w: Waiting) -> tuple[int, float, int]:
    return (-w.priority, w.since if w.since is not None else float("inf"), w.seq)


def queue_line(waiting: Sequence[Waiting], pending: Sequence[Waiting] = ()) -> list[Waiting]:
    """Everyone in the queue's line in Asterisk's order: the callers (and placed callbacks)
    on the line, and the callback requests not placed yet.  A request counts once: a pending
    one whose Local channel is already on the line (same `callback` id) is dropped, and so is
    a repeated id."""
    seen: set[int] = set()
    line: list[Waiting] = []
    for w in (*waiting, *pending):
        if w.callback is not None:
            if w.callback in seen:
                continue
            seen.add(w.callback)
        line.append(w)
    return sorted(line, key=_order)


def queue_position(waiting: Sequence[Waiting], key: str, pending: Sequence[Waiting] = ()) -> int:
    """1-based place of `key` in Asterisk's order (priority, then arrival); 0 if absent.
    Callbacks ahead (placed or pending) count as callers ahead."""
    order = queue_line(waiting, pending)
    return next((i for i, w in enumerate(order, start=1) if w.key == key), 0)


def handling_cycle(
    samples: Sequence[WaitSample], wrapup_s: float = 0.0, default_s: float = DEFAULT_CYCLE_S
) -> float:
    """Seconds an operator is taken by one call, from recent samples (see the module doc)."""
    talks = [s.talked_s for s in samples if s.talked_s is not None and s.talked_s > 0]
    if talks:
        return statistics.median(talks) + wrapup_s
    cycles = [s.waited_s * s.busy / s.ahead for s in samples if s.ahead > 0 and s.busy > 0]
    if cycles:
        return statistics.median(cycles)
    return default_s + wrapup_s


def estimate_wait(
    position: int,
    *,
    waiting: int,
    free: int,
    busy: int,
    samples: Sequence[WaitSample] = (),
    wrapup_s: float = 0.0,
    default_cycle_s: float = DEFAULT_CYCLE_S,
    vip: bool = False,
) -> WaitEstimate:
    """The estimate for the caller at `position` (1 = next) with `free` operators idle and
    `busy` on calls or ringing."""
    if free + busy <= 0:
        return WaitEstimate(position, waiting, known=False, seconds=None, minutes=None, vip=vip)
    releases = max(0, position - free)
    if releases == 0:
        seconds = 0.0
    else:
        cycle = handling_cycle(samples, wrapup_s, default_cycle_s)
        seconds = releases * cycle / max(busy, 1)
    return WaitEstimate(position, waiting, known=True, seconds=seconds,
                        minutes=spoken_minutes(seconds), vip=vip)


def spoken_minutes(seconds: float) -> int | None:
    """None under a minute; whole minutes up to ten; then rounded up to steps of five."""
    if seconds < 60:
        return None
    minutes = max(1, round(seconds / 60))
    if minutes <= 10:
        return minutes
    return int(math.ceil(minutes / 5) * 5)
