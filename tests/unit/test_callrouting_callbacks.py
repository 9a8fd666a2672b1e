"""The callback's pure part (callrouting.callbacks): the offer dialog, the place a request
keeps, which requests are due, retries, business hours with an injected clock, the display."""

from __future__ import annotations

import typing
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backoffice.callbacks import Kind, State
from callrouting.callbacks import (
    OfferDialog,
    OpeningHours,
    Request,
    Waiter,
    after_failed_try,
    callback_display,
    due,
    queue_place,
    valid_number,
)
from callrouting.tables import CALLBACK_KINDS, CALLBACK_STATES
from hotline.pbx.originate import originate_command

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
MSK = ZoneInfo("Europe/Moscow")


def dialog(number: str | None = "+79161234567") -> OfferDialog:
    return OfferDialog("1", "0", number, timeout=10)


# ---- the offer while waiting


def test_key_then_key_confirms_the_callers_own_number() -> None:
    d = dialog()
    assert d.press("1", 0) == "ask" and d.active
    assert d.press("1", 1) == "confirmed"
    assert d.number == "+79161234567" and d.state == "confirmed"
    assert d.press("1", 2) == "ignored"


def test_another_number_keyed_and_hash_is_confirmed() -> None:
    d = dialog()
    d.press("1", 0)
    for i, k in enumerate("89031234567"):
        assert d.press(k, 1 + i) == "ignored"
    assert d.press("#", 20) == "confirmed" and d.number == "89031234567"


def test_keyed_number_may_start_with_the_callback_key() -> None:
    d = dialog()
    d.press("1", 0)
    d.press("2", 1)  # not the first key: "1" now is a digit of the number
    for k in "1345":
        d.press(k, 2)
    assert d.press("#", 3) == "confirmed" and d.number == "21345"


@pytest.mark.parametrize("keys", ["0", "*", "22#", "2345678901234567", "234*"])
def test_operator_key_star_short_or_long_numbers_go_back_to_waiting(keys: str) -> None:
    d = dialog()
    d.press("1", 0)
    actions = [d.press(k, 1) for k in keys]
    assert "back" in actions and d.state == "idle" and not d.active and d.number is None


def test_no_key_within_the_timeout_goes_back_and_each_key_gives_more_time() -> None:
    d = dialog()
    d.press("1", 0)
    assert d.tick(9.9) == "ignored"
    d.press("5", 9.0)  # the caller starts keying a number: 10 s more
    assert d.tick(15) == "ignored" and d.active
    assert d.tick(19.1) == "back" and not d.active


def test_while_idle_only_the_callback_key_counts() -> None:
    d = dialog()
    assert [d.press(k, 0) for k in "0#*25"] == ["ignored"] * 5 and not d.active


def test_without_a_usable_caller_id_the_number_must_be_keyed() -> None:
    d = dialog(None)
    d.press("1", 0)
    assert d.press("1", 1) == "ignored"  # a digit of the number to key
    for k in "2345":
        d.press(k, 2)
    assert d.press("#", 3) == "confirmed" and d.number == "12345"


def test_only_plain_numbers_are_dialled() -> None:
    assert valid_number("+79161234567") and valid_number("89031234567")
    for bad in ("", "+", "123", "+7916;x", "7916 123", "9" * 16, "1,2", None):
        assert valid_number(bad) is None


# ---- the place a request keeps


def test_a_request_goes_after_everyone_ahead_of_it_by_priority_then_join_time() -> None:
    waiting = [Waiter(0, T0 + timedelta(seconds=30)),  # joined after the request
               Waiter(10, T0 + timedelta(seconds=60)),  # a VIP who came later still goes first
               Waiter(0, T0 - timedelta(seconds=5))]  # joined before
    assert queue_place(Waiter(0, T0), waiting) == 3
    assert queue_place(Waiter(10, T0), waiting) == 1  # a VIP's callback: ahead of all
    assert queue_place(Waiter(0, T0), []) == 1


def test_due_requests_in_queue_order_after_their_retry_time_and_only_when_open() -> None:
    reqs = [Request(1, 0, T0), Request(2, 10, T0 + timedelta(minutes=5)),
            Request(3, 0, T0 - timedelta(minutes=1), next_attempt_at=T0 + timedelta(minutes=2)),
            Request(4, 0, T0 - timedelta(minutes=2))]
    now = T0 + timedelta(minutes=1)
    assert [r.id for r in due(reqs, now, lambda _n: True)] == [2, 4, 1]
    assert [r.id for r in due(reqs, now + timedelta(minutes=1), lambda _n: True)] == [2, 4, 3, 1]
    assert due(reqs, now, lambda _n: False) == []


def test_a_missed_try_is_retried_after_the_delay_then_failed() -> None:
    first = after_failed_try(0, 3, 120, T0, "noanswer")
    assert (first.state, first.attempts, first.next_attempt_at) == ("pending", 1,
                                                                  T0 + timedelta(seconds=120))
    second = after_failed_try(1, 3, 120, T0, "busy")
    assert second.state == "pending" and second.attempts == 2
    last = after_failed_try(2, 3, 120, T0, "noanswer")
    assert (last.state, last.attempts, last.next_attempt_at, last.reason) == (
        "failed", 3, None, "callback_failed: noanswer")
    assert after_failed_try(0, 1, 120, T0, "busy").state == "failed"


# ---- business hours (Moscow, UTC+3)

HOURS = OpeningHours(MSK, {d: [(9 * 60, 18 * 60)] for d in range(5)},
                     holiday=lambda day: day == date(2026, 12, 31))


@pytest.mark.parametrize(("utc", "open_"), [
    (datetime(2026, 12, 2, 6, 0, tzinfo=UTC), True),  # Wed 09:00 MSK
    (datetime(2026, 12, 2, 5, 59, tzinfo=UTC), False),  # 08:59
    (datetime(2026, 12, 2, 15, 0, tzinfo=UTC), False),  # 18:00: closed
    (datetime(2026, 12, 5, 10, 0, tzinfo=UTC), False),  # Saturday
    (datetime(2026, 12, 31, 10, 0, tzinfo=UTC), False),  # a holiday (Thursday)
])
def test_opening_hours(utc: datetime, open_: bool) -> None:
    assert HOURS.is_open(utc) is open_


def test_a_callback_after_hours_waits_for_the_next_opening() -> None:
    friday_evening = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)  # 19:00 MSK
    opening = HOURS.next_opening(friday_evening)
    assert opening == datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # Monday 09:00 MSK
    reqs = [Request(1, 0, friday_evening)]
    assert due(reqs, friday_evening, HOURS.is_open) == []
    assert opening is not None and [r.id for r in due(reqs, opening, HOURS.is_open)] == [1]
    assert HOURS.next_opening(datetime(2026, 12, 2, 7, 0, tzinfo=UTC)) == datetime(
        2026, 12, 2, 7, 0, tzinfo=UTC)  # open now
    before_holiday = datetime(2026, 12, 30, 16, 0, tzinfo=UTC)
    assert HOURS.next_opening(before_holiday) == datetime(2027, 1, 1, 6, 0, tzinfo=UTC)
    assert OpeningHours(MSK, {}).next_opening(friday_evening) is None
    assert OpeningHours(MSK, {}, always=True).is_open(friday_evening)


# ---- the operator's phone and the command


def test_the_operators_phone_shows_the_callback_the_caller_and_the_wait() -> None:
    assert callback_display("VIP Maria Ivanova - ticket check", waited_s=372) == (
        "Callback: VIP Maria Ivanova - ticket check, waited 6 min")
    assert callback_display("Unknown", waited_s=12) == "Callback: Unknown, waited under 1 min"
    assert callback_display('Eve"; <sip:x>,\n', waited_s=None, kind="click_to_call") == (
        "Call back: Eve sip x")
    assert len(callback_display("A" * 200, waited_s=60)) <= 80


def test_the_originate_command_carries_only_the_row_id() -> None:
    assert originate_command(42) == ("channel originate Local/42@hotline-callback/n "
                                     "extension 42@hotline-callback-caller")
    for bad in (0, -1, True, "42", 10**12):
        with pytest.raises(ValueError):
            originate_command(bad)  # type: ignore[arg-type]


def test_api_literals_match_the_table() -> None:
    assert set(typing.get_args(State)) == set(CALLBACK_STATES)
    assert set(typing.get_args(Kind)) == set(CALLBACK_KINDS)


@pytest.mark.parametrize(("state", "word", "key"), [
    ("idle", "callback", "1"), ("asking", "callback", "1"), ("asking", "yes", "1"),
    ("asking", "operator", "0"), ("asking", "no", "0"),
    ("idle", "yes", None), ("idle", "no", None), ("idle", "operator", None),
    ("confirmed", "callback", None), ("asking", "hello", None),
])
def test_a_heard_word_is_the_key_it_stands_for(state: str, word: str, key: str | None) -> None:
    from callrouting.callbacks import word_key

    dialog = OfferDialog("1", "0", "+79161234567")
    dialog.state = state  # type: ignore[assignment]
    assert word_key(word, dialog) == key


def test_spoken_request_and_yes_confirm_the_caller_id_through_the_same_machine() -> None:
    from callrouting.callbacks import word_key

    dialog = OfferDialog("1", "0", "+79161234567")
    assert dialog.press(word_key("callback", dialog) or "", 0.0) == "ask"
    assert dialog.press(word_key("yes", dialog) or "", 1.0) == "confirmed"
    assert dialog.number == "+79161234567"
