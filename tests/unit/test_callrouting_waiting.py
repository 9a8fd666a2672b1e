"""The pool's wait estimate and place: pure, from recent calls and the operators at work."""

from __future__ import annotations

import pytest

from callrouting.waiting import (
    DEFAULT_CYCLE_S,
    Waiting,
    WaitSample,
    estimate_wait,
    handling_cycle,
    queue_line,
    queue_position,
    spoken_minutes,
)


def test_position_follows_priority_then_arrival():
    waiting = [Waiting("a", 0, 1), Waiting("b", 0, 2), Waiting("vip", 10, 3), Waiting("c", 0, 4)]
    assert [queue_position(waiting, k) for k in ("vip", "a", "b", "c")] == [1, 2, 3, 4]
    assert queue_position(waiting, "gone") == 0


def test_a_free_operator_means_less_than_a_minute():
    e = estimate_wait(1, waiting=1, free=1, busy=3)
    assert e.known and e.seconds == 0 and e.minutes is None and e.less_than_a_minute


def test_nobody_at_work_gives_no_estimate():
    e = estimate_wait(2, waiting=2, free=0, busy=0)
    assert not e.known and e.seconds is None and not e.less_than_a_minute


def test_estimate_uses_median_talk_time_and_wrapup_per_busy_operator():
    samples = [WaitSample(30, talked_s=t) for t in (100, 110, 1000)]  # one long call
    # place 3, one free operator: 2 must free up; 2 busy, cycle 110 + 10 -> 2 * 120 / 2
    e = estimate_wait(3, waiting=3, free=1, busy=2, samples=samples, wrapup_s=10)
    assert e.seconds == pytest.approx(120.0) and e.minutes == 2


def test_without_talk_times_the_cycle_is_learnt_from_waits():
    # waited 90 s for 3 operators to free up while 2 were busy: a cycle of 60 s
    samples = [WaitSample(90, ahead=3, busy=2)]
    assert handling_cycle(samples) == pytest.approx(60.0)
    assert estimate_wait(4, waiting=4, free=0, busy=4, samples=samples).seconds == pytest.approx(60)


def test_no_history_uses_the_default_cycle():
    assert handling_cycle([], wrapup_s=5) == DEFAULT_CYCLE_S + 5
    e = estimate_wait(1, waiting=1, free=0, busy=1)
    assert e.seconds == DEFAULT_CYCLE_S and e.minutes == 3


def test_vip_flag_is_carried():
    assert estimate_wait(1, waiting=1, free=0, busy=1, vip=True).vip


@pytest.mark.parametrize(("seconds", "minutes"), [
    (0, None), (59.9, None), (60, 1), (89, 1), (91, 2), (600, 10), (640, 15), (1210, 20),
])
def test_spoken_minutes_round_like_a_person(seconds: float, minutes: int | None):
    assert spoken_minutes(seconds) == minutes


def test_a_callback_stands_at_its_callers_join_not_where_its_channel_was_placed():
    # "a" joined at 10, "b" at 30; the callback's caller had joined at 20 and its Local
    # channel was placed last (seq 9): Asterisk put it between them (Queue()'s position)
    waiting = [Waiting("a", 0, 1, 10.0), Waiting("b", 0, 2, 30.0),
               Waiting("cb-leg", 0, 9, 20.0, callback=7)]
    assert [queue_position(waiting, k) for k in ("a", "cb-leg", "b")] == [1, 2, 3]


def test_a_pending_callback_ahead_counts_once_placed_or_not():
    waiting = [Waiting("a", 0, 1, 10.0), Waiting("b", 0, 2, 30.0)]
    pending = [Waiting("callback-7", 0, -1, 20.0, callback=7)]
    # not placed yet: still ahead of "b", behind "a"
    assert queue_position(waiting, "b", pending) == 3
    assert queue_position(waiting, "a", pending) == 1
    # placed: its Local channel is on the line, and the pending entry for the same row is
    # not counted again (nor a repeated pending entry)
    placed = [*waiting, Waiting("cb-leg", 0, 9, 20.0, callback=7)]
    assert queue_position(placed, "b", pending) == 3
    assert queue_position(waiting, "b", pending * 2) == 3
    assert len(queue_line(placed, pending)) == 3


def test_a_pending_callback_behind_or_of_lower_priority_is_not_ahead():
    waiting = [Waiting("a", 0, 1, 10.0), Waiting("vip", 10, 2, 40.0)]
    pending = [Waiting("callback-7", 0, -1, 20.0, callback=7),  # joined after "a"
               Waiting("callback-8", 0, -1, 5.0, callback=8)]  # before "a", below the VIP
    assert queue_position(waiting, "vip", pending) == 1
    assert queue_position(waiting, "a", pending) == 3
