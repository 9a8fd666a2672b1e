"""The second pass's bounded priority queue (voicebot.asr_queue) with decodes the test finishes
by hand: order by priority then arrival, at most `slots` running, shedding the least urgent
when full, withdrawing and raising waiting jobs."""

from __future__ import annotations

import concurrent.futures

import pytest

from voicebot.asr_queue import DecodeQueue, DecodeShed

pytestmark = pytest.mark.unit


class Decoder:
    """Records which jobs were started, in order; each runs until the test finishes it."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.inner: dict[str, concurrent.futures.Future] = {}

    def start(self, name: str):  # type: ignore[no-untyped-def]
        def go() -> concurrent.futures.Future:
            self.started.append(name)
            self.inner[name] = concurrent.futures.Future()
            return self.inner[name]

        return go

    def finish(self, name: str) -> None:
        self.inner[name].set_result(f"heard {name}")


def make(slots: int = 1, max_queued: int = 8) -> tuple[DecodeQueue, Decoder]:
    return DecodeQueue(slots, max_queued, lambda f: f.result()), Decoder()


def test_urgent_jobs_overtake_waiting_ones_and_ties_go_in_arrival_order():
    q, d = make()
    jobs = {n: q.submit(p, d.start(n)) for n, p in
            [("busy", 1), ("spec", 2), ("unsure1", 1), ("urgent", 0), ("unsure2", 1)]}  # fmt: skip
    assert d.started == ["busy"] and q.running == 1 and q.waiting == 4
    for name in ["busy", "urgent", "unsure1", "unsure2", "spec"]:
        d.finish(name)
    assert d.started == ["busy", "urgent", "unsure1", "unsure2", "spec"]
    assert jobs["urgent"].result(timeout=1) == "heard urgent"
    assert q.running == 0 and q.waiting == 0


def test_no_more_than_slots_jobs_run_at_once():
    q, d = make(slots=2)
    for n in "abcd":
        q.submit(1, d.start(n))
    assert d.started == ["a", "b"] and q.ahead_of(1) == 4 and q.ahead_of(0) == 2
    d.finish("b")
    assert d.started == ["a", "b", "c"]


def test_a_full_queue_sheds_the_least_urgent_waiting_job():
    q, d = make(max_queued=2)
    q.submit(1, d.start("running"))
    spec = q.submit(2, d.start("spec"))
    unsure = q.submit(1, d.start("unsure"))
    urgent = q.submit(0, d.start("urgent"))  # full: the speculative one goes
    assert spec.shed and isinstance(spec.exception(timeout=1), DecodeShed)
    late_spec = q.submit(2, d.start("late spec"))  # the least urgent itself: refused at once
    assert late_spec.shed and isinstance(late_spec.exception(timeout=1), DecodeShed)
    assert not unsure.done() and not urgent.done() and q.shed_count == 2
    d.finish("running")
    d.finish("urgent")
    d.finish("unsure")
    assert d.started == ["running", "urgent", "unsure"]


def test_a_waiting_job_can_be_withdrawn_and_raised_but_a_running_one_only_finishes():
    q, d = make()
    running = q.submit(1, d.start("running"))
    spec = q.submit(2, d.start("spec"))
    unsure = q.submit(1, d.start("unsure"))
    gone = q.submit(1, d.start("gone"))
    assert gone.cancel() and gone.cancelled() and q.waiting == 2
    assert not running.cancel()  # decoding: it finishes, its caller ignores the result
    spec.prioritise(0)  # the final transcript needed it urgently
    d.finish("running")
    assert d.started == ["running", "spec"]
    d.finish("spec")
    d.finish("unsure")
    assert spec.result(timeout=1) == "heard spec" and unsure.result(timeout=1) == "heard unsure"
    assert "gone" not in d.started


def test_a_failed_decode_fails_its_job_and_the_next_one_starts():
    q, d = make()
    first = q.submit(1, d.start("bad"))
    second = q.submit(1, d.start("good"))
    d.inner["bad"].set_exception(RuntimeError("decoder crashed"))
    assert isinstance(first.exception(timeout=1), RuntimeError)
    d.finish("good")
    assert second.result(timeout=1) == "heard good"


def test_close_cancels_the_waiting_jobs():
    q, d = make()
    q.submit(1, d.start("running"))
    waiting = q.submit(1, d.start("waiting"))
    q.close()
    assert waiting.cancelled()
