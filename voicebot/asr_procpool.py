"""Streaming recognition sessions in worker processes.

pocketsphinx's Python binding holds the GIL while it decodes (two threads decoding took twice
as long as one, on 2 cores), so with every call's recogniser in the service's process, decoding
for 20 callers competes with the event loop that paces their audio and with Whisper's second
pass. `ProcessAsrEngine` runs another engine in `workers` processes instead: each worker builds
the engine once (by name, through `voicebot.asr_engines.make_asr`) and hosts many sessions; a session is
pinned to the worker with the fewest open sessions, and its calls travel over a pipe in order.

- `accept()` only sends the audio (no reply); `partial()` and `final()` wait for the worker's
  answer, which comes after all audio sent before them was decoded.
- Idle workers fill their engine's decoder pool (`top_up()`), so a burst of new callers does
  not wait for decoders to be built (~0.4 s each) in the middle of their turn.
- A worker's errors come back as `AsrError` for that session (e.g. a grammar with unknown
  words). A worker that dies fails its open sessions with `AsrError` and is started again for
  the next session, so one crash costs the utterances in flight, not the service.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from voicebot.asr import AsrError, Transcript

__all__ = ["ProcessAsrEngine", "ProcessRecognizer"]

_REPLY_TIMEOUT_S = 30.0


def _worker_main(conn: Any, engine_name: str, options: dict[str, Any]) -> None:
    """A worker: build the engine, then serve (op, session id, payload) messages."""
    from voicebot.asr_engines import make_asr

    # Ctrl-C at the terminal reaches the whole foreground process group: the service stops its
    # workers itself (a "stop" message, see `_Worker.stop`); left alone, each worker would die
    # first with a KeyboardInterrupt traceback, failing the sessions still in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        engine = make_asr(engine_name, **options)
    except Exception as exc:  # reported to the parent, which raises AsrError
        conn.send(("ready", 0, f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", 0, None))
    sessions: dict[int, Any] = {}
    errors: dict[int, str] = {}
    top_up = getattr(engine, "top_up", None)  # pocketsphinx: build pooled decoders when idle
    while True:
        try:
            while top_up is not None and not conn.poll(0.05):
                if not top_up():
                    top_up = None  # the pool is full
            op, sid, payload = conn.recv()
        except (EOFError, OSError):
            return
        if op == "stop":
            return
        try:
            if op == "open":
                sessions[sid] = engine.recognizer(payload)
            elif op == "audio":
                if sid in sessions:
                    sessions[sid].accept(payload)
            elif op == "partial":
                if sid in errors:
                    conn.send(("error", sid, errors.pop(sid)))
                else:
                    conn.send(("partial", sid, sessions[sid].partial()))
            elif op == "final":
                session = sessions.pop(sid, None)
                if sid in errors or session is None:
                    conn.send(("error", sid, errors.pop(sid, "no such session")))
                else:
                    t = session.final()
                    conn.send(("final", sid, (t.text, t.confidence, t.words)))
            elif op == "fill":  # build the pool now and say how many decoders are pooled
                while top_up is not None and top_up():
                    pass
                conn.send(("filled", sid, getattr(engine, "pooled", 0)))
            elif op == "drop":
                sessions.pop(sid, None)
                errors.pop(sid, None)
        except Exception as exc:  # one session's failure, answered at its next question
            sessions.pop(sid, None)
            message = f"{type(exc).__name__}: {exc}"
            if op in ("partial", "final"):
                conn.send(("error", sid, message))
            else:
                errors[sid] = message


class _Worker:
    def __init__(self, ctx: Any, engine_name: str, options: dict[str, Any], index: int) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, engine_name, options),
                                   name=f"hotline-asr-{index}", daemon=True)  # fmt: skip
        self.process.start()
        child.close()
        self.send_lock = threading.Lock()
        self.waiting: dict[int, Future[Any]] = {}
        self.open = 0
        self.alive = True
        if not self.conn.poll(120):
            self.process.kill()
            raise AsrError(f"ASR worker process {index} did not start within 120 s")
        try:
            _, _, problem = self.conn.recv()
        except (EOFError, OSError) as exc:
            self.process.join(5)
            raise AsrError(f"ASR worker process {index} exited while starting "
                           f"(exit code {self.process.exitcode})") from exc  # fmt: skip
        if problem is not None:
            self.process.join(5)
            raise AsrError(f"ASR worker failed to start: {problem}")
        self.reader = threading.Thread(target=self._read, name=f"asr-reader-{index}", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                kind, sid, payload = self.conn.recv()
            except (EOFError, OSError):
                break
            future = self.waiting.pop(sid, None)
            if future is None:
                continue
            if kind == "error":
                future.set_exception(AsrError(payload))
            else:
                future.set_result(payload)
        self.alive = False
        for future in list(self.waiting.values()):
            if not future.done():
                future.set_exception(AsrError("the ASR worker process ended"))
        self.waiting.clear()

    def send(self, message: tuple[str, int, Any]) -> None:
        with self.send_lock:
            try:
                self.conn.send(message)
            except (OSError, ValueError) as exc:  # broken pipe: the worker died
                self.alive = False
                raise AsrError("the ASR worker process ended") from exc

    def ask(self, op: str, sid: int) -> Any:
        future: Future[Any] = Future()
        self.waiting[sid] = future
        try:
            self.send((op, sid, None))
        except AsrError:
            self.waiting.pop(sid, None)
            raise
        if not self.alive and not future.done():  # died between the send and now
            self.waiting.pop(sid, None)
            raise AsrError("the ASR worker process ended")
        try:
            return future.result(timeout=_REPLY_TIMEOUT_S)
        except TimeoutError as exc:
            self.waiting.pop(sid, None)
            raise AsrError(f"the ASR worker did not answer within {_REPLY_TIMEOUT_S:.0f} s") from exc

    def stop(self) -> None:
        try:
            self.send(("stop", 0, None))
        except AsrError:
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()


class ProcessRecognizer:
    """One utterance decoded in a worker process (same contract as any `Recognizer`)."""

    def __init__(self, engine: ProcessAsrEngine, worker: _Worker, sid: int) -> None:
        self._engine = engine
        self._worker = worker
        self._sid = sid
        self._closed = False

    def accept(self, pcm_8k: bytes) -> None:
        if self._closed:
            raise AsrError("recognizer session already finished")
        if pcm_8k:
            self._worker.send(("audio", self._sid, pcm_8k))

    def partial(self) -> str:
        if self._closed:
            return ""
        text: str = self._worker.ask("partial", self._sid)
        return text

    def final(self) -> Transcript:
        if self._closed:
            raise AsrError("recognizer session already finished")
        self._closed = True
        try:
            text, confidence, words = self._worker.ask("final", self._sid)
        finally:
            self._engine._closed(self._worker)
        return Transcript(text, confidence, tuple(words))

    def __del__(self) -> None:  # an abandoned session must not keep its decoder in the worker
        if not getattr(self, "_closed", True):
            self._closed = True
            try:
                self._worker.send(("drop", self._sid, None))
            except AsrError:
                pass
            self._engine._closed(self._worker)


class ProcessAsrEngine:
    """`engine_name` and `options` as for `make_asr`, built in each of `workers` processes
    (default: one per core). The options must be picklable. Call `close()` when done (also
    done at interpreter exit: the workers are daemons)."""

    def __init__(self, engine_name: str, workers: int = 0, **options: Any) -> None:
        self.engine_name = engine_name
        self.options = options
        self.name = engine_name
        self.workers = workers or max(1, os.cpu_count() or 1)
        self._ctx = multiprocessing.get_context("spawn")  # never fork a threaded service
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pool: list[_Worker] = []
        try:
            for i in range(self.workers):
                self._pool.append(_Worker(self._ctx, engine_name, options, i))
        except Exception:
            self.close()
            raise

    def recognizer(self, phrases: Sequence[str] | None = None) -> ProcessRecognizer:
        with self._lock:
            for i, worker in enumerate(self._pool):
                if not worker.alive:  # crashed: a fresh one for the sessions to come
                    worker.stop()
                    self._pool[i] = _Worker(self._ctx, self.engine_name, self.options, i)
            worker = min(self._pool, key=lambda w: w.open)
            worker.open += 1
            sid = next(self._ids)
        try:
            worker.send(("open", sid, list(phrases) if phrases else None))
        except AsrError:
            self._closed(worker)
            raise
        return ProcessRecognizer(self, worker, sid)

    def _closed(self, worker: _Worker) -> None:
        with self._lock:
            worker.open = max(0, worker.open - 1)

    def fill(self) -> int:
        """Have every worker build its decoder pool now (blocking); the decoders pooled in all."""
        with self._lock:
            sids = [-next(self._ids) for _ in self._pool]
            workers = list(self._pool)
        return sum(int(w.ask("fill", sid)) for w, sid in zip(workers, sids, strict=True))

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._pool if w.process.pid is not None]

    def close(self) -> None:
        for worker in self._pool:
            worker.stop()
        self._pool = []
