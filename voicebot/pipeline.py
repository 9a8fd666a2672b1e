"""Frame processors linked into a pipeline, with a data lane and a control lane.

Each processor owns a queue and one task for data frames, so a slow step (TTS) never blocks the
steps before it. Control frames skip the queue and are processed in the caller's task at once;
`Interrupt` additionally drops the processor's queued data and cancels the data frame in progress
before being passed on. That is what keeps barge-in fast: audio already synthesized and queued
anywhere in the pipeline is gone as soon as the interrupt has walked past it.

`OutputPacer` is the pure core of playout: exact 320-byte (20 ms) frames, silence when idle, a
schedule driven by an injected clock; `PacedOutput` wraps it as a processor.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from collections.abc import Iterable, Sequence

import structlog

from voicebot.frames import (
    AudioOut,
    BotStartedSpeaking,
    BotStoppedSpeaking,
    ControlFrame,
    Dtmf,
    EndOfCall,
    Frame,
    Interrupt,
    SpeechStarted,
)

__all__ = [
    "FRAME_BYTES",
    "FRAME_SECONDS",
    "BargeIn",
    "Capture",
    "Direction",
    "OutputPacer",
    "PacedOutput",
    "Pipeline",
    "Processor",
]

FRAME_BYTES = 320
FRAME_SECONDS = 0.02
_log = structlog.get_logger("voicebot.pipeline")


class Direction(enum.Enum):
    DOWN = "down"  # caller -> bot -> caller
    UP = "up"  # feedback towards the input (e.g. "bot stopped speaking")


class Processor:
    """Base processor: forwards everything. Override `process`; call `push` to emit."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or type(self).__name__
        self._next: Processor | None = None
        self._prev: Processor | None = None
        self._queue: asyncio.Queue[tuple[Frame, Direction]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def link(self, other: Processor) -> Processor:
        self._next = other
        other._prev = self
        return other

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self.name}-data")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._drain()

    async def _run(self) -> None:
        while True:
            frame, direction = await self._queue.get()
            try:
                await self.process(frame, direction)
            except Exception:  # one bad frame must not silence the whole lane
                _log.exception("pipeline.frame_failed", processor=self.name,
                               frame=type(frame).__name__)  # fmt: skip
            finally:
                self._queue.task_done()

    # --- frames -------------------------------------------------------------------------------

    async def queue_frame(self, frame: Frame, direction: Direction = Direction.DOWN) -> None:
        """Entry point for frames arriving from a neighbour (or a test)."""
        if isinstance(frame, ControlFrame):
            if isinstance(frame, Interrupt):
                await self._interrupt_data_lane()
            await self.process(frame, direction)
        else:
            self._queue.put_nowait((frame, direction))

    async def process(self, frame: Frame, direction: Direction) -> None:
        await self.push(frame, direction)

    async def push(self, frame: Frame, direction: Direction = Direction.DOWN) -> None:
        target = self._next if direction is Direction.DOWN else self._prev
        if target is not None:
            await target.queue_frame(frame, direction)

    async def on_interrupt(self) -> None:
        """Hook: drop state that belongs to the interrupted turn (buffers, partial results)."""

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    async def join(self) -> None:
        await self._queue.join()

    async def _interrupt_data_lane(self) -> None:
        self._drain()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._drain()
            self._task = asyncio.create_task(self._run(), name=f"{self.name}-data")
        await self.on_interrupt()

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            self._queue.task_done()


class Pipeline:
    """Processors linked in order; frames enter at the first one."""

    def __init__(self, processors: Sequence[Processor]) -> None:
        if not processors:
            raise ValueError("a pipeline needs at least one processor")
        self.processors = list(processors)
        for a, b in zip(self.processors, self.processors[1:], strict=False):
            a.link(b)

    async def start(self) -> None:
        for p in self.processors:
            await p.start()

    async def stop(self) -> None:
        for p in self.processors:
            await p.stop()

    async def __aenter__(self) -> Pipeline:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def push(self, frame: Frame) -> None:
        await self.processors[0].queue_frame(frame, Direction.DOWN)

    async def settle(self) -> None:
        """Wait until no processor has queued or in-progress data frames (tests, shutdown)."""
        while True:
            for p in self.processors:
                await p.join()
            await asyncio.sleep(0)
            if all(p.queued == 0 for p in self.processors):
                return


# --- reusable processors -------------------------------------------------------------------------


class Capture(Processor):
    """Records every frame it sees (both directions) and forwards it."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.frames: list[Frame] = []
        self.up: list[Frame] = []

    async def process(self, frame: Frame, direction: Direction) -> None:
        (self.frames if direction is Direction.DOWN else self.up).append(frame)
        await self.push(frame, direction)

    def of(self, kind: type[Frame]) -> list[Frame]:
        return [f for f in self.frames if isinstance(f, kind)]


class BargeIn(Processor):
    """Turns caller activity (speech start, a key press) into an `Interrupt` while the bot talks.

    Sits right after the VAD (which emits `SpeechStarted`); learns whether the bot is speaking from the output's upstream
    `BotStartedSpeaking`/`BotStoppedSpeaking` frames.
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.bot_speaking = False

    async def process(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.UP:
            if isinstance(frame, BotStartedSpeaking):
                self.bot_speaking = True
            elif isinstance(frame, BotStoppedSpeaking):
                self.bot_speaking = False
        elif isinstance(frame, SpeechStarted | Dtmf) and self.bot_speaking:
            self.bot_speaking = False
            await self.push(Interrupt("dtmf" if isinstance(frame, Dtmf) else "speech"))
        await self.push(frame, direction)


class OutputPacer:
    """Pure playout core: queued PCM in, exactly `frame_bytes` frames out, silence when idle.

    `due(now)` returns the frames whose send time has come on a fixed 20 ms grid started by the
    first call. If the caller's loop stalls, at most `max_burst` frames are sent at once and the
    grid skips ahead, so a hiccup never turns into a long burst of catch-up audio.
    """

    def __init__(
        self,
        frame_bytes: int = FRAME_BYTES,
        frame_seconds: float = FRAME_SECONDS,
        max_burst: int = 3,
        max_queued_bytes: int = 16_000 * 120,
    ) -> None:
        if frame_bytes <= 0 or frame_bytes % 2:
            raise ValueError("frame_bytes must be a positive even number")
        self.frame_bytes = frame_bytes
        self.frame_seconds = frame_seconds
        self.max_burst = max_burst
        self.max_queued_bytes = max_queued_bytes
        self._chunks: deque[bytes] = deque()
        self._queued = 0
        self._offset = 0  # bytes already taken from _chunks[0]
        self._next_at: float | None = None
        self.silence = bytes(frame_bytes)

    @property
    def queued_bytes(self) -> int:
        return self._queued

    @property
    def speaking(self) -> bool:
        return self._queued > 0

    @property
    def next_due(self) -> float | None:
        """When the next frame is due (None before the first `due` call)."""
        return self._next_at

    def enqueue(self, pcm: bytes) -> None:
        if len(pcm) % 2:
            raise ValueError(f"PCM length {len(pcm)} is odd; 16-bit samples expected")
        if self._queued + len(pcm) > self.max_queued_bytes:
            raise OverflowError(
                f"playout queue would hold {self._queued + len(pcm)} bytes "
                f"(limit {self.max_queued_bytes})"
            )
        if pcm:
            self._chunks.append(bytes(pcm))
            self._queued += len(pcm)

    def flush(self) -> int:
        """Drop everything queued (barge-in); return how many bytes were dropped."""
        dropped = self._queued
        self._chunks.clear()
        self._queued = 0
        self._offset = 0
        return dropped

    def next_frame(self) -> bytes:
        """One frame: queued audio (the last piece padded with silence) or silence."""
        if not self._queued:
            return self.silence
        out = bytearray()
        while len(out) < self.frame_bytes and self._chunks:
            head = self._chunks[0]
            take = min(self.frame_bytes - len(out), len(head) - self._offset)
            out += head[self._offset : self._offset + take]
            self._offset += take
            if self._offset == len(head):
                self._chunks.popleft()
                self._offset = 0
        self._queued -= len(out)
        if len(out) < self.frame_bytes:
            out += bytes(self.frame_bytes - len(out))
        return bytes(out)

    def due(self, now: float) -> list[bytes]:
        if self._next_at is None:
            self._next_at = now
        frames: list[bytes] = []
        while now >= self._next_at - 1e-9 and len(frames) < self.max_burst:
            frames.append(self.next_frame())
            self._next_at += self.frame_seconds
        if now >= self._next_at:  # stalled: skip the schedule ahead instead of bursting
            missed = int((now - self._next_at) // self.frame_seconds) + 1
            self._next_at += missed * self.frame_seconds
        return frames


class PacedOutput(Processor):
    """Feeds `AudioOut` into an `OutputPacer`; `tick(now)` emits paced 20 ms `AudioOut` frames.

    The async adapter calls `tick` from a real-time loop (sleeping until `pacer.next_due`);
    tests call it from a fake clock. Sends `BotStartedSpeaking`/`BotStoppedSpeaking` upstream.
    """

    def __init__(self, pacer: OutputPacer | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.pacer = pacer or OutputPacer()
        self._speaking = False
        self._now = 0.0

    async def process(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.DOWN and isinstance(frame, AudioOut):
            self.pacer.enqueue(frame.pcm)
            return
        if isinstance(frame, EndOfCall):
            self.pacer.flush()
        await self.push(frame, direction)

    async def on_interrupt(self) -> None:
        self.pacer.flush()
        if self._speaking:
            self._speaking = False
            await self.push(BotStoppedSpeaking(self._now, interrupted=True), Direction.UP)

    async def tick(self, now: float) -> None:
        self._now = now
        for pcm in self.pacer.due(now):
            if not self._speaking and pcm is not self.pacer.silence:
                self._speaking = True
                await self.push(BotStartedSpeaking(now), Direction.UP)
            await self.push(AudioOut(pcm))
            if self._speaking and not self.pacer.speaking:
                self._speaking = False
                await self.push(BotStoppedSpeaking(now), Direction.UP)


def frames_of(pcm: bytes, size: int = FRAME_BYTES) -> Iterable[bytes]:
    """Split PCM into `size`-byte pieces (the last one may be shorter)."""
    for start in range(0, len(pcm), size):
        yield pcm[start : start + size]
