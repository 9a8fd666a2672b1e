"""Two-pass recognition with fake engines: when Whisper is asked, whose transcript wins, and
the second pass's deadline (fake clock)."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from voicebot.asr import AsrError, Transcript
from voicebot.asr_queue import DecodeShed
from voicebot.asr_twopass import SecondPassPolicy, TwoPassEngine
from voicebot.asr_whisper import SPECULATIVE, UNSURE, URGENT, _clean

pytestmark = pytest.mark.unit


class FakeSession:
    """`partial_text` is what the streaming decoder shows at the end of the audio (by default
    the final text, as pocketsphinx nearly always does)."""

    def __init__(self, text: str, partial_text: str | None = None) -> None:
        self.text, self.audio = text, b""
        self.partial_text = text if partial_text is None else partial_text

    def accept(self, pcm_8k: bytes) -> None:
        self.audio += pcm_8k

    def partial(self) -> str:
        return self.partial_text

    def final(self) -> Transcript:
        return Transcript(self.text, 1.0, tuple(self.text.split()))


class FakeFirst:
    name = "fake"

    def __init__(self, text: str, partial_text: str | None = None) -> None:
        self.text, self.phrases, self.partial_text = text, None, partial_text

    def recognizer(self, phrases=None):
        self.phrases = phrases
        return FakeSession(self.text, self.partial_text)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeWhisper:
    """Answers at once, advancing the fake clock by `decode_s`; or, with `hang`, never answers
    (the Future stays queued); `wait` is what it claims a new decode would take."""

    def __init__(self, text: str, clock: FakeClock | None = None, decode_s: float = 0.0,
                 wait: float = 0.0, hang: bool = False) -> None:  # fmt: skip
        self.text, self.calls, self.clock, self.priorities = text, [], clock, []
        self.decode_s, self.wait, self.hang = decode_s, wait, hang
        self.futures: list[concurrent.futures.Future] = []

    def expected_wait(self, priority: int = 0) -> float:
        return self.wait

    def submit(self, pcm_8k: bytes, prompt: str | None = None,
               priority: int = 0) -> concurrent.futures.Future:  # fmt: skip
        self.calls.append(pcm_8k)
        self.priorities.append(priority)
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.futures.append(future)
        if not self.hang:
            if self.clock is not None:
                self.clock.now += self.decode_s
            future.set_result(Transcript(self.text, 0.8, tuple(self.text.split())))
        return future

    def transcribe(self, pcm_8k: bytes, prompt: str | None = None) -> Transcript:
        return self.submit(pcm_8k, prompt).result()


def run(first: str, second: str, phrases=None) -> tuple[str, FakeWhisper, object]:
    whisper = FakeWhisper(second)
    engine = TwoPassEngine(FakeFirst(first), whisper)  # type: ignore[arg-type]
    rec = engine.recognizer(phrases)
    rec.accept(b"\x01\x00" * 800)
    rec.accept(b"\x02\x00" * 800)
    return rec.final().text, whisper, rec


@pytest.mark.parametrize(("first", "second", "heard", "asked"), [
    ("when is the next draw", "when is the next draw", "when is the next draw", False),
    ("i want to talk to an operator", "x", "i want to talk to an operator", False),
    ("", "did i win", "did i win", True),  # nothing heard
    ("what is the draw", "what time is the draw", "what time is the draw", True),  # unknown
    ("the the the", "blah blah", "the the the", True),  # neither understood: keep the first
    ("", "", "", True),
])  # fmt: skip
def test_second_pass_only_when_unsure(first, second, heard, asked):
    text, whisper, rec = run(first, second)
    assert text == heard
    assert bool(whisper.calls) is asked and rec.used_second is asked
    if asked:
        assert whisper.calls == [b"\x01\x00" * 800 + b"\x02\x00" * 800]  # the whole utterance


def test_phrase_sessions_stay_with_the_strict_first_engine():
    text, whisper, _ = run("yes", "no", phrases=["yes", "no"])
    assert text == "yes" and not whisper.calls


def test_session_is_closed_after_final():
    _, _, rec = run("did i win", "")
    with pytest.raises(AsrError):
        rec.final()
    with pytest.raises(AsrError):
        rec.accept(b"\x00\x00")


def test_policy_threshold():
    unsure = Transcript("winnings")  # claim_winnings, confidence 0.57
    assert SecondPassPolicy(min_confidence=0.6).needs_second(unsure)
    assert not SecondPassPolicy(min_confidence=0.5).needs_second(unsure)
    assert SecondPassPolicy(min_confidence=0.0).needs_second(Transcript("what is the draw"))


def test_whisper_text_is_cleaned_to_lowercase_words():
    assert _clean(" When is the next Russian Lotto draw?") == "when is the next russian lotto draw"
    assert _clean("Ticket 4-8-3, 6/45 costs 2.50!") == "ticket 4-8-3 6/45 costs 2.50"
    assert _clean("I'm done.") == "i'm done"


def deadline_run(deadline_s, first="", patient_s=None, **whisper):
    """`first` "" is an URGENT turn (budget `patient_s`, default the same as `deadline_s` so
    the tests below are about one budget); "winnings" an UNSURE one (budget `deadline_s`)."""
    clock = FakeClock()
    fake = FakeWhisper("did i win", clock, **whisper)
    # early_start off: these are about the pass started after the first final transcript
    engine = TwoPassEngine(FakeFirst(first), fake, deadline_s=deadline_s, clock=clock,  # type: ignore[arg-type]
                           patient_s=patient_s if patient_s is not None else deadline_s or 0.0,
                           early_start=False)  # fmt: skip
    rec = engine.recognizer()
    rec.accept(b"\x01\x00" * 1600)
    return rec.final().text, fake, rec, engine


def test_second_pass_in_time_is_used():
    text, fake, rec, engine = deadline_run(0.45, decode_s=0.3, wait=0.3)
    assert text == "did i win" and rec.second_outcome == "used"
    assert engine.outcomes == {"used": 1, "skipped": 0, "shed": 0, "late": 0, "early": 0,
                               "early_wasted": 0, "at_pause": 0}  # fmt: skip


def test_second_pass_not_started_when_the_queue_cannot_make_the_deadline():
    text, fake, rec, engine = deadline_run(0.45, wait=0.6)
    assert text == "" and not fake.calls  # pocketsphinx's (empty) transcript stands
    assert rec.second_outcome == "skipped" and engine.outcomes["skipped"] == 1


def test_second_pass_arriving_after_the_deadline_is_dropped():
    text, fake, rec, engine = deadline_run(0.45, decode_s=0.5, wait=0.3)
    assert text == "" and fake.calls and rec.second_outcome == "late"
    assert engine.outcomes["late"] == 1


def test_a_hung_second_pass_never_holds_the_turn_past_the_deadline():
    started = time.monotonic()
    text, fake, rec, _ = deadline_run(0.05, hang=True)  # fake clock stands; real wait 0.05 s
    assert time.monotonic() - started < 1.0
    assert text == "" and rec.second_outcome == "late"
    assert fake.futures[0].cancelled()  # the queued decode was withdrawn


def test_first_pass_time_counts_against_the_deadline():
    clock = FakeClock()

    class SlowSession(FakeSession):
        def final(self) -> Transcript:
            clock.now += 0.3  # pocketsphinx took 0.3 s of the 0.45 s
            return super().final()

    class SlowFirst(FakeFirst):
        def recognizer(self, phrases=None):
            return SlowSession(self.text)

    # an UNSURE turn ("winnings"): its budget runs from the end of the audio
    fake = FakeWhisper("did i win", clock, wait=0.2)
    engine = TwoPassEngine(SlowFirst("winnings"), fake, deadline_s=0.45, patient_s=0.45,  # type: ignore[arg-type]
                           clock=clock, early_start=False)  # fmt: skip
    rec = engine.recognizer()
    assert rec.final().text == "winnings" and rec.second_outcome == "skipped"
    # an URGENT one (nothing heard): from the first pass's answer, so a slow first pass
    # does not use up the second's time
    engine = TwoPassEngine(SlowFirst(""), fake, deadline_s=0.45, patient_s=0.45,  # type: ignore[arg-type]
                           clock=clock, early_start=False)  # fmt: skip
    rec = engine.recognizer()
    assert rec.final().text == "did i win" and rec.second_outcome == "used"


def test_a_turn_not_understood_at_all_waits_longer_and_goes_first():
    # the first pass heard nothing: URGENT, waits up to patient_s (1.5 s), not deadline_s
    text, fake, rec, _ = deadline_run(0.45, patient_s=1.5, decode_s=1.0, wait=1.0)
    assert text == "did i win" and rec.second_outcome == "used"
    assert fake.priorities == [URGENT]


def test_an_unsure_turn_keeps_the_short_budget_and_its_first_transcript():
    # "winnings" is understood (claim_winnings) with low confidence: UNSURE, budget deadline_s
    assert SecondPassPolicy().tier(Transcript("winnings")) == UNSURE
    text, fake, rec, _ = deadline_run(0.45, first="winnings", patient_s=1.5, decode_s=1.0,
                                      wait=0.3)  # fmt: skip
    assert text == "winnings" and rec.second_outcome == "late" and fake.priorities == [UNSURE]
    text, fake, rec, _ = deadline_run(0.45, first="winnings", patient_s=1.5, decode_s=0.2,
                                      wait=0.2)  # fmt: skip
    assert text == "did i win" and rec.second_outcome == "used"


def test_a_pass_the_full_queue_sheds_leaves_the_first_transcript_at_once():
    class SheddingWhisper(FakeWhisper):
        def submit(self, pcm_8k, prompt=None, priority=0):
            self.calls.append(pcm_8k)
            future: concurrent.futures.Future = concurrent.futures.Future()
            future.set_exception(DecodeShed("full"))
            return future

    engine = TwoPassEngine(FakeFirst("winnings"), SheddingWhisper("x"),  # type: ignore[arg-type]
                           early_start=False)  # fmt: skip
    rec = engine.recognizer()
    rec.accept(b"\x01\x00" * 1600)
    assert rec.final().text == "winnings" and rec.second_outcome == "shed"
    assert engine.outcomes["shed"] == 1


def test_no_deadline_waits_for_the_second_pass():
    text, fake, rec, _ = deadline_run(None, decode_s=5.0, wait=9.0)
    assert text == "did i win" and rec.second_outcome == "used"


def test_whisper_wait_estimate_counts_the_queue_and_relaxes_after_a_burst(monkeypatch):
    import voicebot.asr_whisper as asr_whisper
    from voicebot.asr_queue import DecodeQueue

    now = [50.0]
    monkeypatch.setattr(asr_whisper.time, "monotonic", lambda: now[0])
    engine = object.__new__(asr_whisper.WhisperEngine)  # the estimate only, no model
    engine.workers = 1
    engine.queue = DecodeQueue(1, 16, lambda f: f.result())
    engine._baseline, engine._recent, engine._updated = 0.3, 0.9, 50.0  # a burst: slow decodes
    assert engine.expected_wait() == pytest.approx(0.9)
    never: concurrent.futures.Future = concurrent.futures.Future()  # a decode that runs on
    engine.queue.submit(asr_whisper.UNSURE, lambda: never)  # running
    engine.queue.submit(asr_whisper.UNSURE, lambda: never)  # waiting
    assert engine.pending == 2
    assert engine.expected_wait(asr_whisper.UNSURE) == pytest.approx(2.7)  # two ahead
    assert engine.expected_wait(asr_whisper.URGENT) == pytest.approx(1.8)  # jumps the waiting one
    engine.workers = 2
    assert engine.expected_wait(asr_whisper.UNSURE) == pytest.approx(1.8)
    engine.workers = 1
    engine.queue.close()
    never.set_result(None)
    now[0] += 10 * asr_whisper.RELAX_S  # no decode finished since: back near the idle time
    assert engine.expected_wait() == pytest.approx(0.3, abs=0.01)


# --- early start: the second pass begins on the partial transcript ------------------------------


class OrderedWhisper(FakeWhisper):
    """Records whether it was asked before the first engine's final transcript."""

    def __init__(self, text: str, events: list[str]) -> None:
        super().__init__(text, hang=True)
        self.events = events

    def submit(self, pcm_8k, prompt=None, priority=0):
        self.events.append("second")
        return super().submit(pcm_8k, prompt, priority)


class OrderedFirst(FakeFirst):
    def __init__(self, text: str, partial_text: str, events: list[str]) -> None:
        super().__init__(text, partial_text)
        self.events = events

    def recognizer(self, phrases=None):
        session = super().recognizer(phrases)
        final = session.final
        session.final = lambda: (self.events.append("first final"), final())[1]
        return session


def _early(first: str, partial: str, second: str, early_start: bool = True):
    events: list[str] = []
    whisper = OrderedWhisper(second, events)
    engine = TwoPassEngine(OrderedFirst(first, partial, events), whisper,  # type: ignore[arg-type]
                           deadline_s=0.45, early_start=early_start)  # fmt: skip
    rec = engine.recognizer()
    rec.accept(b"\x01\x00" * 800)
    return engine, whisper, rec, events


def test_an_unsure_partial_starts_the_second_pass_before_the_first_final():
    engine, whisper, rec, events = _early("what is the draw", "what is the draw",
                                          "what time is the draw")  # fmt: skip
    answer = concurrent.futures.ThreadPoolExecutor(1).submit(rec.final)
    while not whisper.futures:
        time.sleep(0.001)
    whisper.futures[0].set_result(Transcript("what time is the draw", 0.8,
                                             ("what", "time", "is", "the", "draw")))  # fmt: skip
    assert answer.result(timeout=5).text == "what time is the draw"
    assert events == ["second", "first final"] and len(whisper.calls) == 1
    assert whisper.priorities == [SPECULATIVE]  # raised to the turn's own on the final one
    assert engine.outcomes["early"] == 1 and rec.second_outcome == "used"


def test_an_early_second_pass_the_final_transcript_does_not_need_is_withdrawn():
    engine, whisper, rec, events = _early("when is the next draw", "when is the", "x")
    assert rec.final().text == "when is the next draw"
    assert events == ["second", "first final"]
    assert whisper.futures[0].cancelled()  # still queued: withdrawn, never decoded
    assert engine.outcomes["early_wasted"] == 1 and not rec.used_second


def test_a_sure_partial_waits_for_the_first_final():
    engine, whisper, rec, events = _early("when is the next draw", "when is the next draw", "x")
    assert rec.final().text == "when is the next draw"
    assert events == ["first final"] and not whisper.calls


def test_early_start_can_be_turned_off():
    engine, whisper, rec, events = _early("what is the draw", "what is the draw", "x",
                                          early_start=False)  # fmt: skip
    answer = concurrent.futures.ThreadPoolExecutor(1).submit(rec.final)
    while not whisper.futures:
        time.sleep(0.001)
    whisper.futures[0].set_result(Transcript("", 0.0, ()))
    assert answer.result(timeout=5).text == "what is the draw"
    assert events == ["first final", "second"] and engine.outcomes["early"] == 0


def test_whisper_not_understood_beats_a_model_guess_on_the_first_transcript():
    # "talk" alone: no pattern; the intent model's guess (by="model") is no evidence against
    # Whisper hearing an out-of-domain sentence
    from voicebot.intents import understand, warm_up

    if not warm_up() or understand("is the draw tonight").by != "model":
        pytest.skip("scikit-learn not installed")
    first = Transcript("is the draw tonight")
    assert SecondPassPolicy().combine(first, Transcript("can i buy a car")).text == "can i buy a car"
    patterns = Transcript("the the the")  # neither understood: the first stands
    assert SecondPassPolicy().combine(patterns, Transcript("blah blah")).text == "the the the"


def test_a_pause_starts_the_second_pass_on_the_audio_so_far_and_final_takes_it():
    engine, whisper, rec, events = _early("what is the draw", "what is the draw", "x")
    rec.paused("what is the draw")
    assert len(whisper.calls) == 1 and whisper.calls[0] == b"\x01\x00" * 800
    rec.accept(b"\x00\x00" * 800)  # the silence after the pause
    answer = concurrent.futures.ThreadPoolExecutor(1).submit(rec.final)
    time.sleep(0.05)
    whisper.futures[0].set_result(Transcript("what time is the draw", 0.8,
                                             ("what", "time", "is", "the", "draw")))  # fmt: skip
    assert answer.result(timeout=5).text == "what time is the draw"
    assert len(whisper.calls) == 1  # no second decode at the end of speech
    assert engine.outcomes["at_pause"] == 1 and engine.outcomes["early"] == 1


def test_speech_after_the_pause_withdraws_its_second_pass():
    engine, whisper, rec, events = _early("when is the next draw", "when is the", "x")
    rec.paused("when is the")
    rec.resumed()
    assert whisper.futures[0].cancelled()
    rec.accept(b"\x01\x00" * 800)
    assert rec.final().text == "when is the next draw" and not rec.used_second


def test_a_sure_partial_at_the_pause_starts_nothing():
    engine, whisper, rec, events = _early("when is the next draw", "when is the next draw", "x")
    rec.paused("when is the next draw")
    assert not whisper.calls and engine.outcomes["at_pause"] == 0
