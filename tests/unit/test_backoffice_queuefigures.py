"""The wallboard's queue figures on scripted data: every figure worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backoffice.queuefigures import (
    CallbackFact,
    OnTheLine,
    QueueCall,
    Team,
    classify,
    queue_board,
    to_call_back,
    waiting_order,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the window starts here
NOW = T0 + timedelta(hours=2)
SALES, SUPPORT = Team(1, "Sales"), Team(2, "Support")


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


# one scripted morning: what happened to each queue call, in seconds after T0
CALLS = [
    # answered after 5 s and 19.9 s (within 20) and 20 s (within: "within" includes 20)
    QueueCall(1, at(100), wait_s=5.0, answered_at=at(105), ended_at=at(300), team=SALES),
    QueueCall(2, at(200), wait_s=19.9, answered_at=at(219.9), ended_at=at(400), team=SALES),
    QueueCall(3, at(300), wait_s=20.0, answered_at=at(320), ended_at=at(500), team=SUPPORT),
    # answered after 55 s (outside the service level)
    QueueCall(4, at(400), wait_s=55.0, answered_at=at(455), ended_at=at(600), team=SUPPORT),
    # hung up after 12 s and after 48 s (no team: nobody answered, no personal manager)
    QueueCall(5, at(500), wait_s=12.0, ended_at=at(512), caller_number="+79990000005"),
    QueueCall(6, at(600), wait_s=48.0, ended_at=at(648), caller_number="+79990000006", vip=True),
    # a crash left no wait: abandoned after end - join = 30 s
    QueueCall(7, at(700), ended_at=at(730), team=SALES, caller_number="+79990000007"),
    # took a callback after 40 s: neither answered nor abandoned
    QueueCall(8, at(800), wait_s=40.0, ended_at=at(840), callback=True),
    # still waiting (counted from the live room, not here)
    QueueCall(9, at(7000)),
    # joined before the window: not counted
    QueueCall(10, at(-60), wait_s=1.0, answered_at=at(-59), team=SALES),
]
CALLBACKS = [
    CallbackFact(1, 8, "callback", "pending", requested_at=at(840), queue_joined_at=at(800)),
    CallbackFact(2, 11, "callback", "answered", requested_at=at(900), answered_at=at(1000),
                 team=SUPPORT),
    CallbackFact(3, 12, "callback", "failed", requested_at=at(950), closed_at=at(1500),
                 queue_joined_at=at(930), number="+79990000012", reason="no answer"),
    # failed before the window: not counted
    CallbackFact(4, 13, "callback", "failed", requested_at=at(-900), closed_at=at(-100)),
    # a team lead's click-to-call to caller 5, ringing now; one that reached caller 6
    CallbackFact(5, 5, "click_to_call", "ringing_operator", requested_at=at(6000), team=SALES),
    CallbackFact(6, 6, "click_to_call", "answered", requested_at=at(6100),
                 answered_at=at(6120), team=SALES),
]
ON_LINE = [
    OnTheLine("u9", waited_s=200.0, call_id=9, caller_number="+79990000009"),
    OnTheLine("u14", waited_s=30.0, priority=10, vip=True, call_id=14, team=SALES),
]


def test_overall_figures() -> None:
    b = queue_board(CALLS, CALLBACKS, ON_LINE, now=NOW, since=T0, service_level_s=20)
    f = b.overall
    assert (f.answered, f.answered_within, f.abandoned, f.left_for_callback) == (4, 3, 3, 1)
    assert f.service_level == round(3 / 7, 4) == 0.4286
    assert f.abandonment == round(3 / 7, 4)
    assert f.asa_s == round((5 + 19.9 + 20 + 55) / 4, 3) == 24.975
    assert f.abandoned_after_mean_s == 30.0  # (12 + 48 + 30) / 3
    assert f.abandoned_after_max_s == 48.0
    # pending: callback 1 and the click-to-call ringing; done: 2 and the click-to-call answered
    assert (f.callbacks_pending, f.callbacks_done, f.callbacks_failed) == (2, 2, 1)
    # the VIP on the line, the caller on the line for 200 s, the callback kept since 800 s
    assert f.waiting_now == 3
    assert f.longest_wait_s == (NOW - at(800)).total_seconds() == 6400.0


def test_per_team() -> None:
    b = queue_board(CALLS, CALLBACKS, ON_LINE, now=NOW, since=T0, service_level_s=20)
    sales, support, none = b.teams[SALES], b.teams[SUPPORT], b.teams[Team(None, None)]
    assert (sales.answered, sales.answered_within, sales.abandoned) == (2, 2, 1)
    assert sales.service_level == 0.6667 and sales.asa_s == 12.45
    assert (sales.callbacks_pending, sales.callbacks_done, sales.waiting_now) == (1, 1, 1)
    assert sales.longest_wait_s == 30.0
    assert (support.answered, support.answered_within, support.abandoned) == (2, 1, 0)
    assert support.service_level == 0.5 and support.abandonment == 0.0
    assert support.asa_s == 37.5 and support.callbacks_done == 1
    assert (none.answered, none.abandoned, none.left_for_callback) == (0, 2, 1)
    assert none.service_level == 0.0 and none.abandonment == 1.0 and none.asa_s is None
    assert none.callbacks_failed == 1 and none.waiting_now == 2


@pytest.mark.parametrize(("threshold", "within"), [(4.9, 0), (5, 1), (19.9, 2), (20, 3), (55, 4)])
def test_service_level_threshold_is_inclusive(threshold: float, within: int) -> None:
    b = queue_board(CALLS, [], [], now=NOW, since=T0, service_level_s=threshold)
    assert b.overall.answered_within == within
    assert b.overall.service_level == round(within / 7, 4)


def test_window_excludes_older_calls() -> None:
    late = queue_board(CALLS, CALLBACKS, [], now=NOW, since=at(450), service_level_s=20)
    # calls 5-8 joined after 450 s (call 9 still waits); callback 3 failed at 1500 s
    assert (late.overall.answered, late.overall.abandoned) == (0, 3)
    assert late.overall.service_level == 0.0 and late.overall.asa_s is None
    assert late.overall.callbacks_failed == 1
    empty = queue_board([], [], [], now=NOW, since=T0)
    assert empty.overall.service_level is None and empty.overall.abandonment is None
    assert empty.overall.longest_wait_s is None and empty.waiting == []


def test_waiting_order_puts_priority_first_then_time_in_queue() -> None:
    order = waiting_order(ON_LINE, CALLBACKS, NOW)
    assert [(w.position, w.call_id, w.callback, w.vip) for w in order] == [
        (1, 14, False, True),  # priority 10
        (2, 8, True, False),  # the callback keeps its place: in queue since 800 s
        (3, 9, False, False),
    ]
    assert order[1].callback_state == "pending" and order[1].waited_s == 6400.0
    # a callback whose caller is (again) on the line is shown once, on the line
    again = waiting_order([OnTheLine("u8", 5.0, call_id=8)], CALLBACKS, NOW)
    assert [(w.call_id, w.callback) for w in again] == [(8, False)]


def test_classify() -> None:
    assert classify(CALLS[0]) == ("answered", 5.0)
    assert classify(CALLS[6]) == ("abandoned", 30.0)
    assert classify(CALLS[7]) == ("callback", 40.0)
    assert classify(CALLS[8]) == ("waiting", None)
    # an answer without a stored wait: join -> answer
    assert classify(QueueCall(1, at(0), answered_at=at(7.5))) == ("answered", 7.5)


def test_list_to_call_back() -> None:
    items = to_call_back(CALLS, CALLBACKS, now=NOW, since=T0)
    # newest first; caller 6 is left out (a click-to-call reached them)
    assert [(a.kind, a.call_id) for a in items] == [
        ("callback_failed", 12), ("abandoned", 7), ("abandoned", 5)]
    failed, seven, five = items
    assert failed.at == at(1500) and failed.waited_s == 20.0 and failed.reason == "no answer"
    assert failed.caller_number == "+79990000012" and failed.callback_id == 3
    assert seven.waited_s == 30.0 and seven.at == at(730) and seven.called_back is None
    assert five.waited_s == 12.0 and five.called_back == "ringing_operator"
