"""The waiting room: places as callers come and go, samples from answers, the announcement
loop (with a recording whisper instead of Asterisk), wrap-up after routed calls."""

from __future__ import annotations

import asyncio
from typing import Any

from callrouting.events import WaitAnnouncer, WaitEstimate
from callrouting.waiting import Waiting
from callrouting.waitroom import WaitingRoom


class RecordingWhisper:
    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []
        self.stopped: list[str] = []

    async def say(self, channel: str, sound: str) -> bool:
        self.said.append((channel, sound))
        return True

    async def stop(self, channel: str) -> None:
        self.stopped.append(channel)


def staff(free: int, busy: int):  # type: ignore[no-untyped-def]
    return lambda: (free, busy)


def test_places_follow_priority_and_arrival_and_answers_leave_the_line():
    room = WaitingRoom()
    for key, prio in (("a", 0), ("b", 0), ("vip", 10)):
        room.join("pool", key, prio, staff(0, 2))
    assert [room.position(k) for k in ("vip", "a", "b")] == [1, 2, 3]
    room.answered("vip")
    assert [room.position(k) for k in ("a", "b")] == [1, 2]
    assert room.waiting_count("pool") == 2
    room.leave("a")
    assert room.position("b") == 1 and room.position("a") == 0


def test_snapshot_lists_who_waits_on_the_line_in_order():
    from datetime import UTC, datetime

    from hotline.db.writes import RowRef

    joined = datetime(2026, 12, 1, 9, tzinfo=UTC)
    ref = RowRef("call")  # a call whose row is not stored yet
    room = WaitingRoom()
    room.join("pool", "a", 0, staff(0, 1), call_id=11, joined_at=joined)
    room.join("pool", "b", 0, staff(0, 1), call_id=ref)
    room.join("pool", "vip", 10, staff(0, 1), vip=True, call_id=13)
    room.join("other", "x", 0, staff(0, 1))
    snap = room.snapshot()
    assert [(w.queue, w.uniqueid, w.position, w.vip, w.call_id) for w in snap] == [
        ("other", "x", 1, False, None),
        ("pool", "vip", 1, True, 13), ("pool", "a", 2, False, 11), ("pool", "b", 3, False, None)]
    assert snap[2].joined_at == joined and all(w.waited_s >= 0 for w in snap)
    ref.id = 12  # stored meanwhile
    room.answered("vip")  # talking now: no longer waiting
    assert [(w.uniqueid, w.position, w.call_id) for w in room.snapshot() if w.queue == "pool"] == [
        ("a", 1, 11), ("b", 2, 12)]


def test_an_answer_becomes_a_sample_and_talk_time_joins_it():
    room = WaitingRoom()
    room.join("pool", "a", 0, staff(0, 1))
    room.answered("a")
    [sample] = room.samples("pool")
    assert sample.ahead == 1 and sample.busy == 1 and sample.talked_s is None
    room.talk_ended("a")
    [sample] = room.samples("pool")
    assert sample.talked_s is not None and sample.talked_s >= 0


def test_a_caller_who_found_an_operator_free_teaches_no_cycle():
    room = WaitingRoom()
    room.join("pool", "a", 0, staff(1, 0))
    room.answered("a")
    assert room.samples("pool")[0].ahead == 0


async def test_announcements_are_said_stored_and_stop_at_the_answer():
    whisper = RecordingWhisper()
    stored: list[tuple[int, str, dict[str, Any]]] = []

    async def sink(call_id: int, kind: str, data: dict[str, Any]) -> None:
        stored.append((call_id, kind, data))

    room = WaitingRoom(events=sink, whisper=whisper)
    room.join("pool", "first", 0, staff(0, 1))
    room.join("pool", "me", 0, staff(0, 1))

    async def sound(text: str) -> str:
        return f"/prompts/{len(text)}"

    def text(e: WaitEstimate) -> str:
        return f"place {e.position}, {e.minutes} min"

    answered = asyncio.Event()
    announcer = WaitAnnouncer(interval=0.05, text=text, sound=sound)
    task = asyncio.create_task(room.announce("PJSIP/c-00000001", "me", 7, announcer, answered))
    while len(stored) < 2:
        await asyncio.sleep(0.01)
    room.answered("first")  # the caller ahead is answered: "me" moves up
    while stored[-1][2]["position"] != 1:
        await asyncio.sleep(0.01)
    answered.set()
    await task
    texts = [d["text"] for _, _, d in stored]
    assert texts[0] == "place 2, 6 min" and texts[-1].startswith("place 1")
    assert all(k == "queue.announcement" and cid == 7 and d["played"] for cid, k, d in stored)
    assert whisper.said[0][0] == "PJSIP/c-00000001"
    assert whisper.stopped == ["PJSIP/c-00000001"]  # answered right after a whisper began


async def test_no_announcement_while_a_phone_rings_or_with_an_operator_free_on_entering():
    whisper = RecordingWhisper()
    room = WaitingRoom(whisper=whisper)
    room.join("pool", "me", 0, staff(1, 0))

    async def sound(text: str) -> str:
        return "/prompts/x"

    announcer = WaitAnnouncer(interval=0.02, text=lambda e: "t", sound=sound)
    answered = asyncio.Event()
    ringing = [True]
    task = asyncio.create_task(room.announce("PJSIP/c-1", "me", None, announcer, answered,
                                             ringing=lambda: ringing[0]))
    await asyncio.sleep(0.1)
    assert whisper.said == []
    ringing[0] = False
    while not whisper.said:
        await asyncio.sleep(0.01)
    answered.set()
    await task


def test_wrapup_keeps_an_operator_from_dial_for_its_seconds():
    room = WaitingRoom(wrapup_s=0.0)
    room.call_ended("1001")
    assert not room.in_wrapup("1001")
    room.wrapup_s = 60
    room.call_ended("1001")
    assert room.in_wrapup("1001") and not room.in_wrapup("1002")


def test_a_callback_counts_once_as_a_caller_ahead_placed_or_pending():
    import time

    room = WaitingRoom()
    now = time.monotonic()
    room.join("pool", "a", 0, staff(0, 1), since=now - 60)
    room.join("pool", "b", 0, staff(0, 1), since=now - 10)
    pending: list[Waiting] = [Waiting("callback-7", 0, -1, now - 30, callback=7)]
    room.pending = lambda q: pending if q == "pool" else []
    # stored and due, not placed yet: ahead of b (who joined after its caller)
    assert (room.position("a"), room.position("b")) == (1, 3)
    assert room.waiting_count("pool") == 3
    assert room.estimate("b").position == 3  # type: ignore[union-attr]
    # its Local channel joins last but stands at its caller's join; still counted once
    room.join("pool", "cb-leg", 0, staff(0, 1), since=now - 30, callback=7)
    assert (room.position("a"), room.position("cb-leg"), room.position("b")) == (1, 2, 3)
    assert room.waiting_count("pool") == 3
    # the wallboard counts its callbacks row: the Local channel is not a caller on the line
    assert [w.uniqueid for w in room.snapshot()] == ["a", "b"]
    assert [w.position for w in room.snapshot()] == [1, 3]
    # an operator took it: neither its channel nor its request is ahead any more
    room.answered("cb-leg")
    pending.clear()
    assert room.position("b") == 2 and room.waiting_count("pool") == 2


def test_a_broken_pending_source_does_not_break_the_places():
    room = WaitingRoom()
    room.join("pool", "a", 0, staff(0, 1))

    def broken(_q: str) -> list[Waiting]:
        raise RuntimeError("boom")

    room.pending = broken
    assert room.position("a") == 1 and room.waiting_count("pool") == 1
