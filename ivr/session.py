"""The IVR on a real call: one FastAGI session carries out the machine's effects.

    caller -> Asterisk -> AGI(agi://.../call) -> IvrCallFlow(chan)
        look the caller up, store the call, take the active dialplan (kept for the whole
        call), then loop: effects -> AGI commands -> the one event the machine awaits.

What goes into AGI commands: sound names we made (prompt cache paths) or that the checked
dialplan names, escape digits from the machine (validated by `digits_only`), and settings.
Caller-supplied data (caller ID, keys pressed) never does: keys come back through
`ivr.agi_io.parse_get_data`, which keeps DTMF characters only.

Around a transfer the session records the conversation (`recordings.control`: MixMonitor
option b, so audio is written only once an operator answers; the operator node's
`record: false` stores a "not recorded" row instead) and stops the recording when the
conversation ends.  The machine then asks for the rating (`rating:` in the dialplan); its
`SaveRating` effect is stored against the call, the operator who answered, their team and
the recording (`recordings.ratings`), also when the caller hangs up instead of rating.
With the voice bot (`bot` has `ask_rating`, e.g. `voicebot.gateway.BotGateway`) and text
prompts in a language it speaks, the rating is asked over AudioSocket instead of GET DATA: a
key or the spoken number, with the dialplan's retries, fed back as one `RatingGiven`; if that
session cannot run, the rating falls back to GET DATA.

The "always reach a human" contract: `HOTLINE_DONE=1` is set only when the IVR itself ends
the call.  If the session fails, the AGI ends without it and Asterisk queues the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, cast

import structlog

from callrouting.events import CallbackOffer, WaitAnnouncer
from directory.lookup import find_caller
from hotline.clock import utcnow
from hotline.db.calls import CallKey, CallStore
from hotline.db.writes import WriteLost
from hotline.metrics import Metrics
from hotline.pbx.agi import DIGITS, AgiChannel, AgiHangup
from hotline.phone import normalize_number
from ivr import machine
from ivr.agi_io import get_data
from ivr.lookups import answer_lookup
from ivr.machine import (
    BotFinished,
    CallerInfo,
    CallState,
    Effect,
    Event,
    GetDigits,
    Hangup,
    Input,
    Lookup,
    LookupResult,
    Play,
    PromptFinished,
    PromptInterrupted,
    RatingGiven,
    RecordPath,
    RememberLanguage,
    ResolvedPrompt,
    SaveRating,
    StartBot,
    Timeout,
    Transfer,
    TransferResult,
)
from ivr.model import Dialplan, Greeting, PromptItem
from ivr.waiting import announcement, callback_text
from lottery.answers import LotteryFacts
from recordings.control import RecordingStarted, finish_recording, start_recording, stop_recording
from recordings.ratings import store_rating
from recordings.settings import RecordingSettings
from voicebot.prompts import PrerenderProgress, PromptCache, playback_target

log = structlog.get_logger("ivr.session")

OUTCOMES = {  # machine outcome -> stored call outcome (the foundation's words)
    "hangup": "completed",
    "transferred": "transferred",
    "transfer_failed": "transfer_failed",
    "caller_hangup": "caller_hung_up",
    "callback": "callback_requested",  # left the queue to be called back (table callbacks)
}
# Queue() leaves these in QUEUESTATUS when nobody answered
QUEUE_FAILED = {"TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL"}


@dataclass
class CallContext:
    """What the pluggable bot and transfer steps get to know about the call."""

    call_id: CallKey  # a CallRef: its row may still be queued (hotline.db.writes)
    uniqueid: str
    caller: CallerInfo
    dialplan: Dialplan
    store: CallStore
    state: CallState | None = None
    path: list[dict[str, Any]] = field(default_factory=list)
    recording: RecordingStarted | None = None  # the latest transfer's recording
    recording_open: bool = False  # MixMonitor runs and its row is not finished yet
    # what routing has the caller hear while waiting in the pool (the dialplan's `queue:`)
    wait_announcer: WaitAnnouncer | None = None


BotFn = Callable[[AgiChannel, StartBot, CallContext], Awaitable[BotFinished]]


class RatingBot(Protocol):
    """A bot that can ask the post-call rating by voice (`voicebot.gateway.BotGateway`)."""

    def speaks(self, language: str) -> bool: ...

    async def ask_rating(self, chan: AgiChannel, prompt_texts: list[str],
                         call_context: Any = None, *, keys: str = "12345",
                         timeout: float = 5.0) -> Any:  # fmt: skip
        """-> an answer with score, via, transcript, attempts and reason."""
        ...

TransferFn = Callable[[AgiChannel, Transfer, CallContext], Awaitable[TransferResult]]
DialplanSource = Callable[[], Dialplan]


class PromptSource(Protocol):
    async def target(self, prompt: ResolvedPrompt) -> str:
        """The sound name Asterisk plays for one prompt."""
        ...

    def playing(self, prompt: ResolvedPrompt) -> AbstractAsyncContextManager[str]:
        """`target`, kept on disk until the block that plays it ends."""
        ...


# ---------------------------------------------------------------- prompts


class CachedPrompts:
    """Text prompts through the TTS prompt cache into a directory Asterisk can read.

    `to_inside` turns a host path into the path Asterisk sees (it runs in a chroot).
    `use_voices=False` ignores the dialplan's voice names (they name Piper voices; eSpeak
    picks its voice from the language).
    """

    def __init__(self, cache: PromptCache, to_inside: Callable[[Path], str] = str,
                 *, use_voices: bool | None = None):
        self.cache = cache
        self.to_inside = to_inside
        self.use_voices = cache.tts.name == "piper" if use_voices is None else use_voices

    def _voice(self, voice: str | None) -> str | None:
        return voice if self.use_voices else None

    async def render(self, text: str, language: str, voice: str | None) -> Path:
        return await self.cache.render(text, language, self._voice(voice))

    async def target(self, prompt: ResolvedPrompt) -> str:
        if prompt.file is not None:
            return prompt.file
        assert prompt.text is not None
        path = await self.render(prompt.text, prompt.language, prompt.voice)
        return playback_target(Path(self.to_inside(path)))

    @contextlib.asynccontextmanager
    async def playing(self, prompt: ResolvedPrompt) -> AsyncIterator[str]:
        """A text prompt's file is held in the (bounded) cache while the call plays it."""
        if prompt.file is not None:
            yield prompt.file
            return
        assert prompt.text is not None
        async with self.cache.playing(prompt.text, prompt.language, self._voice(prompt.voice)) as path:
            yield playback_target(Path(self.to_inside(path)))

    async def prerender(self, dialplan: Dialplan) -> int:
        """Render every fixed text of a dialplan (before it serves), logging progress; they are
        pinned: the cache's bound is for texts made from what callers type."""
        todo = static_texts(dialplan)
        t0 = asyncio.get_running_loop().time()
        for i, (text, language, voice) in enumerate(todo, start=1):
            cached = self.cache.is_cached(text, language, self._voice(voice))
            self.cache.pin(await self.render(text, language, voice))
            if i == len(todo) or i % 10 == 0:
                log.info("ivr.prerender", version=dialplan.version_id, done=i, total=len(todo),
                         last_cached=cached)
        log.info("ivr.prerendered", version=dialplan.version_id, prompts=len(todo),
                 seconds=round(asyncio.get_running_loop().time() - t0, 2))
        return len(todo)


def static_texts(dp: Dialplan) -> list[tuple[str, str, str]]:
    """(text, language, voice) of every `say` without variables, as the machine resolves them."""

    def voice(language: str) -> str:
        v = dp.voice
        if isinstance(v, str):
            return v
        return v.get(language) or v.get(dp.default_language) or next(iter(v.values()))

    def items(prompt: Iterable[PromptItem] | None) -> Iterable[tuple[str, str, str]]:
        for item in prompt or []:
            if item.say is None:
                continue
            pairs = [(item.say, dp.default_language)] if isinstance(item.say, str) \
                else [(t, lg) for lg, t in item.say.items()]
            for text, lang in pairs:
                if "{" not in text:
                    yield text, lang, voice(lang)

    out: list[tuple[str, str, str]] = []
    g: Greeting | None = dp.greeting
    if g is not None:
        out += items(g.unknown)
        out += items(g.rating_notice)
    if dp.rating is not None:
        for prompt in (dp.rating.ask, dp.rating.retry, dp.rating.thanks):
            out += items(prompt)
    for node in dp.nodes.values():
        for name in ("prompt", "no_input_prompt", "invalid_prompt"):
            out += items(getattr(node, name, None))
    return list(dict.fromkeys(out))


def log_progress(p: PrerenderProgress) -> None:
    log.info("ivr.prerender", done=p.done, total=p.total, cached=p.cached)


# ---------------------------------------------------------------- default bot and transfer


async def operator_bot(chan: AgiChannel, effect: StartBot, ctx: CallContext) -> BotFinished:
    """Stand-in until the voice bot is wired: the caller goes on to an operator."""
    return BotFinished("operator")


class QueueTransfer:
    """Transfer to the operator pool: `Queue(pool,r,,,timeout)` on the caller's channel."""

    def __init__(self, queue: str, timeout_s: int = 300):
        self.queue, self.timeout_s = queue, int(timeout_s)

    async def __call__(self, chan: AgiChannel, effect: Transfer, ctx: CallContext) -> TransferResult:
        await chan.exec("Queue", f"{self.queue},r,,,{self.timeout_s}")
        status = (await chan.get_variable("QUEUESTATUS")) or ""
        return TransferResult("failed" if status.upper() in QUEUE_FAILED else "answered")


# ---------------------------------------------------------------- the call


class IvrCallFlow:
    """FastAGI handler: one call through the active dialplan."""

    def __init__(
        self,
        store: CallStore,
        dialplans: DialplanSource | Any,  # a DialplanRegistry, or a callable returning one
        prompts: PromptSource,
        facts: LotteryFacts,
        *,
        country: str = "RU",
        pool_queue: str = "hotline-pool",
        bot: BotFn | None = None,
        transfer: TransferFn | None = None,
        clock: Callable[[], datetime] = utcnow,
        lookup_timeout: float = 5.0,
        recordings: RecordingSettings | None = None,
        metrics: Metrics | None = None,
    ):
        self.store = store
        self.metrics = metrics or Metrics()
        self._dialplans = dialplans
        self.prompts = prompts
        self.facts = facts
        self.country = country
        self.bot: BotFn = bot or operator_bot
        self.transfer: TransferFn = transfer or QueueTransfer(pool_queue)
        self.clock = clock
        self.lookup_timeout = lookup_timeout
        # Resolved recording settings (`dir` absolute, `asterisk_dir` as Asterisk sees it);
        # None: conversations are not recorded (the composition root sets this).
        self.recordings = recordings

    def current_dialplan(self) -> Dialplan:
        d = self._dialplans
        return d() if callable(d) else d.active

    async def __call__(self, chan: AgiChannel) -> None:
        m = self.metrics
        m.calls_in_progress.inc()
        ended: list[str] = []  # the call's outcome, once it has one
        try:
            await self._call(chan, ended)
        finally:  # no outcome: the lookup or the call's row failed (Asterisk queues the caller)
            m.calls_in_progress.dec()
            m.calls_finished.labels(ended[0] if ended else "failed").inc()

    async def _call(self, chan: AgiChannel, ended: list[str]) -> None:
        setup_from = time.perf_counter()
        dialplan = self.current_dialplan()  # this call keeps it, whatever gets activated later
        raw = chan.env.get("agi_callerid") or None
        number = normalize_number(raw, self.country)
        row = await find_caller(self.store.sm, number)
        # a known caller's language: the directory's, else the one chosen on their last call
        language, source = (row.language, "directory") if row and row.language else (None, None)
        if row is not None and language is None:
            language = await self.store.last_language(number)
            source = "last_call" if language else None
        caller = CallerInfo(
            number=number or "", name=row.name if row else None, known=row is not None,
            vip=bool(row and row.vip), language=language, language_source=source,
        )
        # every write is queued behind the caller (hotline.db.writes): a slow or locked
        # database never holds up a prompt, and keys pressed between two AGI commands are lost
        call_id = self.store.open_call(
            uniqueid=chan.uniqueid, linkedid=chan.env.get("agi_linkedid") or None,
            channel=chan.env.get("agi_channel"), caller_id_raw=raw, caller_number=number,
            caller=row, started_at=self.clock(), dialplan_version=dialplan.version_id,
        )
        ctx = CallContext(call_id, chan.uniqueid, caller, dialplan, self.store)
        clog = log.bind(uniqueid=chan.uniqueid, caller=number or "unknown",
                        dialplan=dialplan.version_id)
        clog.info("ivr.call_started", known=caller.known, vip=caller.vip)
        outcome = "caller_hung_up"
        state: CallState | None = None
        try:
            state, effects = machine.start(dialplan, caller, self.clock())
            # render the first prompts (a greeting with the caller's name) before answering:
            # a key pressed between two AGI commands is lost, the caller's first 0 included
            for e in effects:
                for p in e.prompts if isinstance(e, Play | GetDigits) else ():
                    await self.prompts.target(p)
            await chan.answer()
            self.metrics.ivr_setup.observe(time.perf_counter() - setup_from)
            # `calls.answered_at`/`answered_by_id` are the operator's answer (routing stores
            # them, first answer wins; ASA and ratings read them): not the IVR's answer
            answered_at = self.clock()
            self.store.event(call_id, "ivr.answered", at=answered_at)
            while True:
                ctx.state = state
                event = await self._carry_out(chan, ctx, state, effects)
                if state.finished:
                    break
                assert event is not None, f"no event for awaiting={state.awaiting}"
                state, effects = machine.step(dialplan, state, event, self.clock())
            outcome = OUTCOMES.get(state.outcome or "", state.outcome or "completed")
        except AgiHangup:
            if state is not None and not state.finished:
                state, effects = machine.step(dialplan, state, machine.CallerHungUp(), self.clock())
                await self._record(ctx, effects)
                await self._save_ratings(ctx, effects)  # "no rating" when it was being asked
                if state.outcome in OUTCOMES and state.outcome != "caller_hangup":
                    outcome = OUTCOMES[state.outcome]  # talked to an operator: not lost
            elif state is not None and state.outcome == "callback":
                outcome = OUTCOMES["callback"]  # hung up after asking for a callback: not lost
            clog.info("ivr.caller_hung_up", node=state.node if state else None)
        except Exception:
            # no HOTLINE_DONE: Asterisk's dialplan puts the caller into the operator pool
            outcome = "failed"
            ctx.path.append({"node": "(service error)", "at": self.clock().isoformat(),
                             "detail": "session failed; Asterisk falls back to the pool"})
            clog.exception("ivr.session_failed", node=state.node if state else None)
        except asyncio.CancelledError:
            # the service stops (its drain ran out of grace): the call goes on in Asterisk
            # (the pool, or the operator it is bridged to) and only Asterisk's records will
            # say how it ended: the row stays open for hotline.app.reconcile
            ctx.path.append({"node": "(service stopped)", "at": self.clock().isoformat(),
                             "detail": "the call went on in Asterisk; closed from its CDR"})
            self.store.update_path(call_id, lambda: list(ctx.path))
            clog.warning("ivr.call_left_to_asterisk", node=state.node if state else None)
            outcome = ""
            raise
        finally:
            ended.append(outcome)
            if ctx.recording_open:  # the caller hung up during the conversation
                await self._finish_recording(ctx, wait=True)
            if outcome:  # none: the service stopped mid-call and reconciliation closes the row
                stored = self.store.finish_call(call_id, outcome, ctx.path)
                if outcome != "failed":  # else Asterisk's fallback waits for this AGI to end
                    with contextlib.suppress(WriteLost):  # logged with its data by the queue
                        await stored  # nobody waits on this AGI any more: tests read the row
                clog.info("ivr.call_stored", outcome=outcome, steps=len(ctx.path),
                          stored=stored.done())

    # -- effects

    async def _record(self, ctx: CallContext, effects: list[Effect]) -> None:
        steps = [e.step for e in effects if isinstance(e, RecordPath)]
        if not steps:
            return
        ctx.path += [{"node": s.node, "at": s.at.isoformat(), "detail": s.detail} for s in steps]
        for st in steps:
            log.info("ivr.step", uniqueid=ctx.uniqueid, node=st.node, detail=st.detail)
        self.store.update_path(ctx.call_id, lambda: list(ctx.path))  # the newest path

    async def _carry_out(self, chan: AgiChannel, ctx: CallContext, state: CallState,
                         effects: list[Effect]) -> Event | None:
        """Run the effects in order; return the event for the one the machine awaits."""
        await self._record(ctx, effects)  # stored behind the caller (the write queue)
        actions = [e for e in effects if not isinstance(e, RecordPath)]
        awaited = _awaited_index(actions, state.awaiting)
        event: Event | None = None
        for i, effect in enumerate(actions):
            if i == awaited and state.awaiting == "rating" and state.attempts == 0:
                result = await self._rate_by_bot(chan, ctx, state)
                if result is not None:
                    event = result
                    continue
            result = await self._one(chan, ctx, effect)
            if i == awaited:
                event = result
            elif isinstance(result, PromptFinished) and result.key:
                return PromptInterrupted(result.key)  # the rest of the step is skipped
        return event

    async def _one(self, chan: AgiChannel, ctx: CallContext, effect: Effect) -> Event | None:
        if isinstance(effect, Play):
            return PromptFinished(await self._play(chan, effect.prompts, effect.escape_digits, ctx))
        if isinstance(effect, GetDigits):
            return Input(await self._collect(chan, effect, ctx))
        if isinstance(effect, RememberLanguage):
            lang = effect.language
            self.store.update(ctx.call_id, language=lang)
            return None
        if isinstance(effect, Lookup):
            return await self._lookup(chan, effect)
        if isinstance(effect, StartBot):
            self.store.event(ctx.call_id, "ivr.bot", {"topic": effect.topic})
            try:
                return await self.bot(chan, effect, ctx)
            except AgiHangup:
                raise
            except Exception:
                log.exception("ivr.bot_failed", uniqueid=ctx.uniqueid)
                return BotFinished("failed")
        if isinstance(effect, Transfer):
            data = {k: v for k, v in effect.context.items() if k != "variables"}
            self.store.event(ctx.call_id, "ivr.transfer", data)
            await self._start_recording(chan, ctx, effect)
            ctx.wait_announcer = self._wait_announcer(ctx, str(effect.context.get("language") or ""))
            try:
                result = await self.transfer(chan, effect, ctx)
            except AgiHangup:
                raise
            except Exception:
                log.exception("ivr.transfer_failed", uniqueid=ctx.uniqueid)
                result = TransferResult("failed")
            await self._stop_recording(chan, ctx)
            self.store.event(ctx.call_id, "ivr.transfer_result", {"outcome": result.outcome})
            return result
        if isinstance(effect, SaveRating):
            await self._save_ratings(ctx, [effect])
            return None
        if isinstance(effect, Hangup):
            await chan.set_variable("HOTLINE_DONE", "1")
            await chan.hangup()
            return None
        raise TypeError(f"unknown effect {effect!r}")  # pragma: no cover

    def _wait_announcer(self, ctx: CallContext, language: str) -> WaitAnnouncer | None:
        dp = ctx.dialplan
        if dp.queue is None:
            return None
        queue = dp.queue
        language = language if language in dp.languages else dp.default_language
        voice = dp.voice if isinstance(dp.voice, str) else (
            dp.voice.get(language) or dp.voice.get(dp.default_language) or next(iter(dp.voice.values())))

        async def sound(text: str) -> str:
            return await self.prompts.target(ResolvedPrompt(text, None, language, voice))

        offer = None
        if queue.callback is not None:
            cb = queue.callback
            offer = CallbackOffer(
                key=cb.key, timeout=float(cb.timeout), operator_key=dp.operator_key,
                listen=cb.listen,
                confirm=lambda n: callback_text(cb, "confirm", n, language, dp.default_language),
                goodbye=lambda n: callback_text(cb, "goodbye", n, language, dp.default_language),
            )
        return WaitAnnouncer(
            interval=float(queue.announce_every),
            text=lambda estimate: announcement(queue, estimate, language, dp.default_language),
            sound=sound, language=language, music=queue.music, callback=offer,
        )

    # -- recording and rating

    async def _start_recording(self, chan: AgiChannel, ctx: CallContext, effect: Transfer) -> None:
        """MixMonitor right before routing rings anyone; never keeps the caller from a human."""
        if self.recordings is None:
            return
        if ctx.recording_open:
            await self._stop_recording(chan, ctx)
        try:
            ctx.recording = await start_recording(
                chan, self.store.writes, self.recordings, call_id=ctx.call_id,
                node=effect.context.get("node"), record=bool(effect.context.get("record", True)),
                now=self.clock(),
            )
        except AgiHangup:
            raise
        except Exception:
            log.exception("ivr.recording_not_started", uniqueid=ctx.uniqueid)
            return
        ctx.recording_open = ctx.recording.enabled

    async def _stop_recording(self, chan: AgiChannel, ctx: CallContext) -> None:
        if not ctx.recording_open:
            return
        if not chan.hung_up:
            try:
                await stop_recording(chan)
            except AgiHangup:
                pass  # Asterisk closes the file as the channel goes
            except Exception:
                log.exception("ivr.recording_not_stopped", uniqueid=ctx.uniqueid)
        await self._finish_recording(ctx, wait=chan.hung_up)

    async def _finish_recording(self, ctx: CallContext, *, wait: bool) -> None:
        rec = ctx.recording
        ctx.recording_open = False
        if rec is None or rec.path is None or self.recordings is None:
            return
        if wait:  # the channel is going away: give Asterisk a moment to close the file
            await asyncio.sleep(0.5)
        try:
            finish_recording(self.store.writes, self.recordings, rec.recording_id, rec.path)
        except Exception:  # the file's size could not be read
            log.exception("ivr.recording_not_finished", uniqueid=ctx.uniqueid)

    async def _rate_by_bot(self, chan: AgiChannel, ctx: CallContext,
                           state: CallState) -> RatingGiven | None:  # fmt: skip
        """The whole rating over the voice bot; None: ask by keys (no bot, a language it does
        not speak, sound-file prompts, or its session did not run)."""
        rating = ctx.dialplan.rating
        if rating is None or not hasattr(self.bot, "ask_rating"):
            return None
        bot = cast(RatingBot, self.bot)
        if not bot.speaks(state.language):
            return None
        prompts = machine.rating_prompts(ctx.dialplan, state)
        texts = [" ".join(p.text for p in group if p.text) for group in prompts]
        if any(p.text is None for group in prompts for p in group) or not all(texts):
            return None
        try:
            answer = await bot.ask_rating(chan, texts, {"call_id": ctx.call_id}, keys=rating.keys,
                               timeout=rating.timeout)  # fmt: skip
        except AgiHangup:
            raise
        except Exception:
            log.exception("ivr.rating_bot_failed", uniqueid=ctx.uniqueid)
            return None
        data = {"score": answer.score, "via": answer.via, "heard": answer.transcript,
                "attempts": answer.attempts, "reason": answer.reason}  # fmt: skip
        self.store.event(ctx.call_id, "ivr.rating_by_bot", data)
        return RatingGiven(answer.score, answer.via, answer.attempts, answer.reason,
                           answer.transcript)  # fmt: skip

    async def _save_ratings(self, ctx: CallContext, effects: Iterable[Effect]) -> None:
        for e in effects:
            if not isinstance(e, SaveRating):
                continue
            rec = ctx.recording
            try:  # queued: a failed write is retried and, if it never succeeds, logged
                store_rating(
                    self.store.writes, call_id=ctx.call_id, score=e.score,
                    recording_id=rec.recording_id if rec is not None else None,
                    reason=e.reason, attempts=e.attempts, at=self.clock(),
                    via=e.via,
                )
            except Exception:
                log.exception("ivr.rating_not_stored", uniqueid=ctx.uniqueid, score=e.score)

    async def _play(self, chan: AgiChannel, prompts: Iterable[ResolvedPrompt],
                    escape: str, ctx: CallContext | None = None) -> str | None:
        for i, p in enumerate(prompts):
            async with self.prompts.playing(p) as target:
                key = await chan.stream_file(target, escape)
            if key:  # barge-in: the rest of the prompt is skipped
                if p.part == "greeting" and ctx is not None:
                    self._greeting_cut(ctx, key, i, p)
                return key
        return None

    def _greeting_cut(self, ctx: CallContext, key: str, index: int, p: ResolvedPrompt) -> None:
        """Stored with the call: the caller did not wait for the greeting to end."""
        data = {"key": key, "prompt": index, "heard": p.text or p.file}
        self.store.event(ctx.call_id, "ivr.greeting_cut", data)

    async def _collect(self, chan: AgiChannel, effect: GetDigits,
                       ctx: CallContext | None = None) -> str | None:
        """Leading prompts by STREAM FILE (any key interrupts), GET DATA on the last one."""
        timeout_ms = int(effect.timeout * 1000)
        prompts = list(effect.prompts)
        first = await self._play(chan, prompts[:-1], DIGITS, ctx) if len(prompts) > 1 else None
        if first is None and prompts and _get_data_fits(effect):
            async with self.prompts.playing(prompts[-1]) as target:
                got = await get_data(chan, target, timeout_ms, effect.max_digits)
            return got.digits
        if first is None and prompts:
            first = await self._play(chan, prompts[-1:], DIGITS)
        digits = first or ""
        # keys one by one (a key interrupted a prompt, or a terminator GET DATA cannot end on)
        while len(digits) < effect.max_digits and not _ends(digits, effect.terminator):
            key = await chan.wait_for_digit(timeout_ms)
            if not key:
                break
            digits += key
        return digits

    async def _lookup(self, chan: AgiChannel, effect: Lookup) -> Event:
        try:
            async with asyncio.timeout(self.lookup_timeout):
                return LookupResult(await answer_lookup(effect, self.facts, self.clock()))
        except TimeoutError:
            return Timeout()


def _get_data_fits(effect: GetDigits) -> bool:
    """GET DATA always ends on `#` and drops it: fine for `#` entries and one-key menus."""
    return effect.terminator == "#" or effect.max_digits == 1


def _ends(digits: str, terminator: str | None) -> bool:
    return bool(terminator) and digits.endswith(terminator or "")


def _awaited_index(actions: list[Effect], awaiting: str | None) -> int | None:
    kind = {"prompt": Play, "input": GetDigits, "lookup": Lookup, "bot": StartBot,
            "transfer": Transfer, "rating": GetDigits}.get(awaiting or "")
    if kind is None:
        return None
    for i in range(len(actions) - 1, -1, -1):
        if isinstance(actions[i], kind):
            return i
    return None
