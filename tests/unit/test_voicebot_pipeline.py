import asyncio

import pytest

from voicebot.frames import (
    AudioIn,
    AudioOut,
    BotStartedSpeaking,
    BotStoppedSpeaking,
    Dtmf,
    EndOfCall,
    Frame,
    Interrupt,
    Say,
    SpeechStarted,
    SpeechStopped,
    Transcript,
)
from voicebot.pipeline import (
    FRAME_BYTES,
    BargeIn,
    Capture,
    Direction,
    OutputPacer,
    PacedOutput,
    Pipeline,
    Processor,
    frames_of,
)

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
async def no_leaked_tasks():
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before - {asyncio.current_task()} if not t.done()]
    for t in leaked:
        t.cancel()
    assert not leaked, f"test left tasks running: {leaked}"


# --- processors between two captures ---------------------------------------------------------


async def test_base_processor_forwards_both_directions():
    head, mid, tail = Capture("head"), Processor(), Capture("tail")
    async with Pipeline([head, mid, tail]) as p:
        await p.push(Say("hello"))
        await tail.push(BotStartedSpeaking(1.0), Direction.UP)
        await p.settle()
    assert tail.frames == [Say("hello")]
    assert head.up == [BotStartedSpeaking(1.0)]


async def test_barge_in_only_while_bot_speaks():
    head, barge, tail = Capture("head"), BargeIn(), Capture("tail")
    async with Pipeline([head, barge, tail]) as p:
        await p.push(SpeechStarted(0.5))
        await tail.push(BotStartedSpeaking(1.0), Direction.UP)
        await p.push(Dtmf("5", 3.0))
        await p.push(SpeechStarted(3.1))  # bot already cut off: no second interrupt
        await p.settle()
    assert tail.frames == [SpeechStarted(0.5), Interrupt("dtmf"), Dtmf("5", 3.0),
                           SpeechStarted(3.1)]  # fmt: skip


class Gate(Processor):
    """Holds each data frame until released, to keep frames queued behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.started: list[Frame] = []
        self.cancelled: list[Frame] = []

    async def process(self, frame, direction):
        if isinstance(frame, Say):
            self.started.append(frame)
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.append(frame)
                raise
        await self.push(frame, direction)


async def test_interrupt_overtakes_and_drops_only_the_data_lane():
    head, gate, tail = Capture("head"), Gate(), Capture("tail")
    async with Pipeline([head, gate, tail]) as p:
        for i in range(3):
            await p.push(Say(f"sentence {i}"))
        await asyncio.sleep(0)
        assert gate.started == [Say("sentence 0")] and gate.queued == 2
        await p.push(Interrupt())
        assert tail.frames == [Interrupt()]  # arrived at once, ahead of queued data
        assert gate.cancelled == [Say("sentence 0")]
        assert gate.queued == 0
        # the lane keeps working after the interruption
        gate.release.set()
        await p.push(Say("after"))
        await p.settle()
    assert tail.frames == [Interrupt(), Say("after")]


async def test_other_control_frames_overtake_without_dropping_data():
    head, gate, tail = Capture("head"), Gate(), Capture("tail")
    async with Pipeline([head, gate, tail]) as p:
        await p.push(Say("a"))
        await p.push(Say("b"))
        await asyncio.sleep(0)
        await p.push(Dtmf("1"))
        assert tail.frames == [Dtmf("1")]
        gate.release.set()
        await p.settle()
    assert tail.frames == [Dtmf("1"), Say("a"), Say("b")]


async def test_pipeline_needs_processors():
    with pytest.raises(ValueError):
        Pipeline([])


# --- output pacer -----------------------------------------------------------------------------


def test_pacer_frames_are_exact_and_silence_when_idle():
    pacer = OutputPacer()
    assert pacer.next_frame() == bytes(320)
    pacer.enqueue(b"\x01\x00" * 100)  # 200 bytes
    pacer.enqueue(b"\x02\x00" * 300)  # 600 bytes
    frames = [pacer.next_frame() for _ in range(4)]
    assert all(len(f) == FRAME_BYTES for f in frames)
    assert frames[0] == b"\x01\x00" * 100 + b"\x02\x00" * 60
    assert frames[1] == b"\x02\x00" * 160
    assert frames[2] == b"\x02\x00" * 80 + bytes(160)  # tail padded with silence
    assert frames[3] == bytes(320)
    assert not pacer.speaking


def test_pacer_flush_drops_queue():
    pacer = OutputPacer()
    pacer.enqueue(bytes(3200))
    pacer.next_frame()
    assert pacer.flush() == 2880
    assert pacer.queued_bytes == 0
    assert pacer.next_frame() == pacer.silence


def test_pacer_rejects_odd_pcm_and_overflow():
    pacer = OutputPacer(max_queued_bytes=640)
    with pytest.raises(ValueError):
        pacer.enqueue(b"abc")
    pacer.enqueue(bytes(640))
    with pytest.raises(OverflowError):
        pacer.enqueue(bytes(2))


def test_pacer_schedule_with_fake_clock():
    pacer = OutputPacer()
    assert len(pacer.due(10.0)) == 1
    assert pacer.next_due == pytest.approx(10.02)
    assert pacer.due(10.01) == []
    assert len(pacer.due(10.02)) == 1
    assert len(pacer.due(10.061)) == 2  # 10.04 and 10.06
    # a 1 s stall sends at most max_burst frames and then resumes on the grid
    assert len(pacer.due(11.07)) == 3
    assert pacer.next_due > 11.07
    assert len(pacer.due(pacer.next_due)) == 1


def test_frames_of():
    assert [len(f) for f in frames_of(bytes(700))] == [320, 320, 60]


# --- a call on a timeline with fake VAD, ASR and TTS ------------------------------------------

SPEECH = b"\x00\x10" * 160  # loud enough for the fake VAD
QUIET = bytes(320)


class FakeVad(Processor):
    async def process(self, frame, direction):
        if isinstance(frame, AudioIn):
            loud = any(frame.pcm)
            if loud and not getattr(self, "speaking", False):
                self.speaking = True
                await self.push(SpeechStarted(frame.at))
            elif not loud and getattr(self, "speaking", False):
                self.speaking = False
                await self.push(SpeechStopped(frame.at))
            return
        await self.push(frame, direction)


class FakeAsr(Processor):
    def __init__(self, script):
        super().__init__()
        self.script = list(script)

    async def process(self, frame, direction):
        await self.push(frame, direction)
        if isinstance(frame, SpeechStopped) and self.script:
            await self.push(Transcript(self.script.pop(0), final=True, at=frame.at))


class FakeBot(Processor):
    async def process(self, frame, direction):
        if isinstance(frame, Transcript) and frame.final:
            await self.push(Say("The next draw is today at 8 pm."))
            await self.push(Say("Is there anything else I can help you with?"))
            return
        await self.push(frame, direction)


class FakeTts(Processor):
    """One second of audio per sentence, in 20 ms chunks."""

    async def process(self, frame, direction):
        if isinstance(frame, Say):
            for chunk in frames_of(b"\x00\x20" * 8000):
                await self.push(AudioOut(chunk))
            return
        await self.push(frame, direction)


class Clock:
    now = 0.0


class TimedSink(Processor):
    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.audio: list[tuple[float, bytes]] = []
        self.control: list[tuple[float, Frame]] = []

    async def process(self, frame, direction):
        if isinstance(frame, AudioOut):
            self.audio.append((round(self.clock.now, 3), frame.pcm))
        else:
            self.control.append((round(self.clock.now, 3), frame))


async def run_timeline(speech, keys, until, barge_speech=()):
    clock = Clock()
    head = Capture("input")
    out = PacedOutput()
    sink = TimedSink(clock)
    p = Pipeline([head, FakeVad(), BargeIn(), FakeAsr(["when is the next draw"]), FakeBot(),
                  FakeTts(), out, sink])  # fmt: skip
    async with p:
        for step in range(int(until / 0.02)):
            t = round(step * 0.02, 3)
            clock.now = t
            for digit_at, digit in keys:
                if abs(digit_at - t) < 1e-6:
                    await p.push(Dtmf(digit, t))
            talking = any(a <= t < b for a, b in (*speech, *barge_speech))
            await p.push(AudioIn(SPEECH if talking else QUIET, t))
            await p.settle()
            await out.tick(t)
            await p.settle()
        await p.push(EndOfCall())
        await p.settle()
    return head, out, sink


async def test_timeline_dtmf_barge_in_drops_queued_audio_within_one_frame():
    # caller speaks 0.5-2.5 s, presses 5 at 3.0 s while the bot talks
    head, out, sink = await run_timeline(speech=[(0.5, 2.5)], keys=[(3.0, "5")], until=4.0)

    # a continuous 20 ms stream: one exact frame per tick, silence when idle
    assert [t for t, _ in sink.audio] == [round(i * 0.02, 3) for i in range(200)]
    assert all(len(pcm) == FRAME_BYTES for _, pcm in sink.audio)

    voiced = [t for t, pcm in sink.audio if any(pcm)]
    assert voiced[0] == 2.5  # answer starts on the tick the caller stopped
    assert voiced[-1] == 2.98  # last frame before the key press: stopped within one frame
    assert all(not any(pcm) for t, pcm in sink.audio if t >= 3.0)

    # two seconds were synthesized, a quarter second played, the rest was dropped
    assert len(voiced) == 25
    assert out.pacer.queued_bytes == 0

    controls = [f for _, f in sink.control]
    assert Interrupt("dtmf") in controls
    assert controls.index(Interrupt("dtmf")) < controls.index(Dtmf("5", 3.0))
    assert sum(isinstance(f, Interrupt) for f in controls) == 1  # speech at 0.5 s: bot silent
    assert BotStoppedSpeaking(2.98, interrupted=True) in [  # time of the last frame sent
        f for f in head.up if isinstance(f, BotStoppedSpeaking)
    ]


async def test_timeline_speech_barge_in():
    head, out, sink = await run_timeline(
        speech=[(0.5, 2.5)], keys=[], until=4.0, barge_speech=[(3.5, 3.9)]
    )
    voiced = [t for t, pcm in sink.audio if any(pcm)]
    assert voiced[-1] == 3.48
    assert all(not any(pcm) for t, pcm in sink.audio if t >= 3.5)
    assert Interrupt("speech") in [f for _, f in sink.control]


async def test_timeline_without_barge_in_plays_everything():
    head, out, sink = await run_timeline(speech=[(0.5, 2.5)], keys=[], until=5.0)
    voiced = [t for t, pcm in sink.audio if any(pcm)]
    assert len(voiced) == 100  # two full seconds
    assert voiced[-1] == 4.48
    stops = [f for f in head.up if isinstance(f, BotStoppedSpeaking)]
    assert stops == [BotStoppedSpeaking(4.48, interrupted=False)]
    starts = [f for f in head.up if isinstance(f, BotStartedSpeaking)]
    assert starts == [BotStartedSpeaking(2.5)]
