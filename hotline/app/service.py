"""Composition root: builds the service's object graph and runs it in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backoffice.auth import Authenticator, ensure_demo_users
from callrouting.callback_desk import CallbackConfig, CallbackDesk
from callrouting.config import load_routing_config
from callrouting.events import WaitingCaller
from callrouting.presence import PresenceTracker
from callrouting.presence_cluster import ClusterPresence, PgPresenceBus, is_postgres
from callrouting.router import CallRouter
from callrouting.store import RoutingStore
from callrouting.waitroom import WaitingRoom
from directory.lookup import remember_all
from directory.tables import OperatorRow
from hotline.app import secretfile
from hotline.app.http import create_app
from hotline.app.httpserver import HttpServer, http_config
from hotline.app.reconcile import Reconciler, ReconcileReport, ami_live_channels
from hotline.app.settings import Settings
from hotline.app.wiring import build_ivr, callback_config, pool_params
from hotline.clock import utcnow
from hotline.db import migrate
from hotline.db.base import make_engine, make_sessionmaker
from hotline.db.calls import CallStore
from hotline.metrics import Metrics
from hotline.paths import PROJECT_ROOT
from hotline.pbx.agi import AgiChannel, FastAgiServer, Handler
from hotline.pbx.ami import AmiClient, AmiError
from hotline.pbx.asterisk import OVERFLOW_RULE, AsteriskError, AsteriskInstance, Operator
from hotline.pbx.cdr import CdrLog
from hotline.pbx.console import ConsoleError, run_command
from hotline.pbx.originate import Originator
from hotline.pbx.whisper import Whisperer
from lottery.facts import DbLotteryFacts
from recordings.retention import RetentionJob
from recordings.settings import RecordingSettings

log = structlog.get_logger("hotline.app.service")


class SettingsProblem(Exception):
    pass


def ami_secret(settings: Settings) -> str:
    """The AMI secret from settings; in demo mode generated under var/ on first use (0600,
    atomically: two processes starting at once no longer race between touch and write)."""
    if settings.asterisk.ami_secret is not None:
        return settings.asterisk.ami_secret.get_secret_value()
    if settings.mode == "production":
        raise SettingsProblem(
            "asterisk.ami_secret is not set: production settings have no default secret "
            "(set HOTLINE_ASTERISK__AMI_SECRET)"
        )
    return _demo_secret(settings, "ami-secret")


def agi_secret(settings: Settings) -> str:
    """The FastAGI key (Asterisk keeps it in hotline-agi.conf; the service serves no session
    without it): from settings; in demo mode generated under var/ on first use (0600,
    atomically)."""
    if settings.service.agi_secret is not None:
        return settings.service.agi_secret.get_secret_value()
    if settings.mode == "production":
        raise SettingsProblem(
            "service.agi_secret is not set: production settings have no default FastAGI secret "
            "(set HOTLINE_SERVICE__AGI_SECRET, 16+ characters of A-Za-z0-9._~-)"
        )
    return _demo_secret(settings, "agi-secret")


def token_secret(settings: Settings) -> str:
    """The secret that signs the QA/admin auth tokens: from settings; in demo mode generated
    under var/ on first use (0600, atomically, like the AMI and FastAGI secrets)."""
    auth = settings.recordings.auth
    if auth.token_secret is not None:
        return auth.token_secret.get_secret_value()
    if settings.mode == "production":
        raise SettingsProblem(
            "recordings.auth.token_secret is not set: production has no default secret "
            "(set HOTLINE_RECORDINGS__AUTH__TOKEN_SECRET, 32+ characters)"
        )
    return _demo_secret(settings, "qa-token-secret", nbytes=48)


def _demo_secret(settings: Settings, name: str, nbytes: int = 24) -> str:
    try:
        return secretfile.read_or_create(settings.resolve(settings.var_dir) / name, nbytes)
    except secretfile.EmptySecretFile as exc:
        raise SettingsProblem(str(exc)) from None


def recording_settings(settings: Settings, asterisk: AsteriskInstance) -> RecordingSettings:
    """Recordings live in the Asterisk instance's directory unless settings say otherwise."""
    rs = settings.recordings
    if rs.asterisk_dir is None and rs.dir == Path("."):
        return rs.model_copy(update={"dir": asterisk.recordings_dir,
                                     "asterisk_dir": f"{asterisk.inside}/recordings"})
    return rs.resolved(PROJECT_ROOT)


class Service:
    """Everything the hotline runs in one process: FastAGI, AudioSocket, AMI, HTTP, jobs.

    `handler` replaces the IVR call flow (tests of one feature); the voice bot (whose speech
    models take a few seconds to load) is left out then, unless `with_bot=True`.
    """

    def __init__(self, settings: Settings, *, secret: str | None = None,
                 handler: Handler | None = None, with_bot: bool | None = None):
        self.settings = settings
        self.secret = secret if secret is not None else ami_secret(settings)
        self.engine: AsyncEngine = make_engine(settings.database_url, settings.database.echo)
        self.sessionmaker: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)
        self.metrics = Metrics(process=True)  # this service's registry, served at /metrics
        self.store = CallStore(self.sessionmaker, metrics=self.metrics, node=settings.service.node)
        self.asterisk = AsteriskInstance(settings)  # paths shared with Asterisk
        a = settings.asterisk
        self.ami = AmiClient(a.host, a.ami_port, a.ami_user, self.secret)
        self.metrics.ami_connected.set_function(lambda: float(self.ami.connected))
        self.presence = PresenceTracker([])  # the directory's operators at start
        # a cluster node on PostgreSQL shares presence with the other nodes (decision 0010);
        # one box (SQLite, `make run`) reads its own tracker only, as before
        self.presence_bus: PgPresenceBus | None = None
        c = settings.cluster
        if c.enabled and c.shared_presence and is_postgres(settings.database_url):
            self.presence_bus = PgPresenceBus(
                settings.database_url, settings.service.node or "node",
                lambda: self.presence.snapshot(), lambda: self.presence.stale,
                heartbeat=c.presence_heartbeat, ttl=c.presence_ttl)
        self._cluster_presence = (ClusterPresence(lambda: self.presence, self.presence_bus)
                                  if self.presence_bus is not None else None)
        self.facts = DbLotteryFacts(self.sessionmaker, utcnow)
        self.router: CallRouter | None = None  # needs the directory: built at start
        self.bot = self._build_bot() if (handler is None if with_bot is None else with_bot) else None
        self.recordings = recording_settings(settings, self.asterisk)
        self.dialplans, self.ivr = build_ivr(
            settings, self.store, self.sessionmaker, self.asterisk.sounds_dir,
            self.asterisk.to_inside, bot=self.bot, transfer=self._transfer,
            recordings=self.recordings if self.recordings.enabled else None,
            sound_dirs=self.asterisk.sound_dirs, metrics=self.metrics,
        )
        self.handler = handler or self.ivr
        self.callbacks: CallbackDesk | None = None  # needs the router: built at start
        self.agi_secret = agi_secret(settings)  # never logged
        # the dialplan guards the first answer (asterisk.agi_first_answer_timeout): lift it
        self.agi = FastAgiServer(settings.service.host, settings.service.agi_port, self._serve,
                                 key=self.agi_secret, guard=True, metrics=self.metrics)
        self.token_secret = token_secret(settings)  # never logged
        self.auth = Authenticator(self.sessionmaker, self.recordings.auth, self.token_secret)
        self.retention = RetentionJob(self.sessionmaker, self.recordings)
        self.reconciler = Reconciler(self.sessionmaker, CdrLog(self.asterisk.cdr_file),
                                     lambda: ami_live_channels(self.ami), country=settings.country,
                                     writes=self.store.writes,  # in order with the calls' writes
                                     node=settings.service.node)
        self.reconciled: ReconcileReport | None = None  # the pass at start
        self.http = HttpServer(http_config(create_app(self, settings.service.http),
                                           settings.service))
        self._http_task: asyncio.Task[None] | None = None
        self._directory_lock = asyncio.Lock()  # one directory reload at a time, in order
        self._reload_pending = False  # a reload failed (AMI down): redo it on reconnect
        self._pool_applied = False  # the dialplan's `queue:` is in Asterisk's pool queue

    def _build_bot(self) -> Any:
        from voicebot.gateway import BotGateway, choose_asr
        from voicebot.tts_engines import make_tts

        b = self.settings.bot
        if b.asr_engine == "vosk" and b.vosk_model_dir is None:
            raise SettingsProblem("bot.asr_engine is vosk but bot.vosk_model_dir is not set")

        def asr_factory() -> Any:
            # the active dialplan's domain words (read when the bot starts: a changed
            # `vocabulary` reaches the recogniser at the next restart)
            words = self.dialplans.active.vocabulary if self.dialplans.ready else []
            queue = self.dialplans.active.queue if self.dialplans.ready else None
            cb = queue.callback if queue is not None else None
            if cb is not None and cb.listen:  # "call me back" said while waiting
                from voicebot.queue_words import vocabulary as queue_vocabulary

                words = [*words, *queue_vocabulary()]
            if b.asr_engine == "pocketsphinx":
                return choose_asr(b.language, None, second_pass=False, vocabulary=words)
            if b.asr_engine == "twopass":
                return choose_asr(b.language, None, second_pass=True, vocabulary=words)
            return choose_asr(b.language, b.vosk_model_dir, vocabulary=words)

        return BotGateway(self.settings, self.facts, asr_factory, make_tts(b.tts), utcnow,
                          store=self.store, language=b.language, voice=b.voice,
                          metrics=self.metrics)

    @property
    def metrics_allow(self) -> list[Any]:  # ip networks (hotline.app.http.AppServices)
        return list(self.settings.service.metrics_allow)

    async def _serve(self, chan: AgiChannel) -> None:
        """A FastAGI session: a callback's leg (its own dialplan contexts), else a call."""
        if self.callbacks is not None and self.callbacks.serves(chan):
            await self.callbacks.handle(chan)
            return
        await self.handler(chan)

    async def click_to_call(self, call_id: int, extension: str, requested_by: str) -> int:
        """The page's "call back": ring `extension`, then the caller of `call_id`."""
        if self.callbacks is None:
            raise RuntimeError("service not started")
        return await self.callbacks.click_to_call(call_id, extension, requested_by)

    def _callback_config(self) -> CallbackConfig:
        dp = self.dialplans.active if self.dialplans.ready else None
        return callback_config(dp)

    async def _transfer(self, chan: AgiChannel, transfer: Any, call_context: Any = None) -> Any:
        assert self.router is not None, "service not started"
        return await self.router.route_call(chan, transfer, call_context)

    async def operators(self) -> list[Operator]:
        async with self.sessionmaker() as s:
            rows = (await s.scalars(select(OperatorRow).where(OperatorRow.active)
                                    .order_by(OperatorRow.extension))).all()
        return [Operator(r.extension, r.name, r.sip_password) for r in rows]

    async def directory_changed(self) -> None:
        """The admin API changed operators, teams or backups: bring Asterisk and presence along.

        Rewrites pjsip.conf and queues.conf from the directory, reloads them (new
        operators can register, removed or deactivated ones lose their endpoint and their
        queue membership) and swaps in a presence tracker for the new operator list. The
        router needs nothing: it loads the directory for every call. Never raises: the
        database change has happened; a reload that AMI could not take is redone on reconnect.
        """
        async with self._directory_lock:
            ops = await self.operators()
            try:
                await asyncio.to_thread(self.asterisk.write_directory_config, ops)
            except AsteriskError as exc:  # Asterisk keeps its last good configuration
                log.error("directory.config_failed", error=str(exc))
                return
            self._reload_pending = True
            if await self._reload_asterisk():
                await self._replace_presence([o.extension for o in ops])
            else:  # nothing to ask AMI now: follow the new list; it resyncs on reconnect
                self._swap_presence(self._new_presence([o.extension for o in ops]))
        if self.dialplans.ready:  # new leads or team members change who is held for overflow
            await self._pool_changed(self.dialplans.active)

    async def _pool_changed(self, dialplan: Any) -> None:
        """Apply the active dialplan's `queue:` (wrap-up, overflow) to the pool queue: queues.conf
        penalties and wrapuptime, queuerules.conf, then a reload; the router sets each caller's
        QUEUE_MAX_PENALTY and rule to match, the waiting room counts the wrap-up in estimates."""
        if self.router is None:
            return
        directory = await self.router.store.load_directory()
        pool = pool_params(dialplan.queue, directory)
        if pool.problem:
            log.error("queue.overflow_unusable", problem=pool.problem)
        self.router.waiting.wrapup_s = float(pool.params.wrapup)
        if self._pool_applied and pool.params == self.asterisk.pool:
            return
        self.asterisk.pool = pool.params
        async with self._directory_lock:
            try:
                await asyncio.to_thread(self.asterisk.write_directory_config, await self.operators())
            except AsteriskError as exc:
                log.error("queue.config_failed", error=str(exc))
                return
            self._reload_pending = True
            # the first time always: the running Asterisk may have another service's values
            self._pool_applied = await self._reload_asterisk()
        self.router.pool_rule = OVERFLOW_RULE if pool.params.overflow_after else None
        self.router.overflow_extensions = pool.overflow
        log.info("queue.configured", wrapup=pool.params.wrapup,
                 overflow_after=pool.params.overflow_after, overflow=sorted(pool.overflow))

    async def _reload_asterisk(self) -> bool:
        """Reload endpoints and queue members from the files on disk; False if Asterisk can't now.

        res_pjsip through the control socket (over AMI its reload needs a class that makes the
        AMI user a shell: hotline.pbx.asterisk.AMI_WRITE); the queue over AMI (QueueReload is
        open to any AMI user)."""
        if not self.ami.connected:
            log.warning("directory.reload_deferred", reason="AMI not connected")
            return False
        try:
            # endpoints, auths and AORs; then the pool's members (and parameters) from queues.conf
            out = await run_command(self.asterisk.control_socket, "module reload res_pjsip.so")
            if "reloaded successfully" not in out.lower():
                raise ConsoleError(f"module reload res_pjsip.so: {out.strip()[-300:] or 'no answer'}")
            await self.ami.action({"Action": "QueueReload", "Queue": self.settings.asterisk.pool_queue,
                                   "Members": "yes", "Parameters": "yes", "Rules": "yes"},
                                  check=True)
        except (AmiError, ConsoleError) as exc:
            log.warning("directory.reload_failed", error=str(exc), hint="retried on AMI reconnect")
            return False
        self._reload_pending = False
        log.info("directory.reloaded")
        return True

    async def _reload_if_pending(self, client: AmiClient) -> None:
        if self._reload_pending:
            async with self._directory_lock:
                if await self._reload_asterisk():
                    await self.presence.resync(client)

    def presence_now(self) -> PresenceTracker | ClusterPresence:
        """Presence as routing sees it: this node's, with the other nodes' claims on a cluster."""
        return self._cluster_presence if self._cluster_presence is not None else self.presence

    def _new_presence(self, extensions: list[str]) -> PresenceTracker:
        tracker = PresenceTracker(extensions)
        tracker.attach(self.ami)
        if self.presence_bus is not None:
            tracker.subscribe(self.presence_bus.local_changed)
        return tracker

    def _swap_presence(self, tracker: PresenceTracker) -> None:
        old, self.presence = self.presence, tracker
        old.detach()

    async def _replace_presence(self, extensions: list[str]) -> None:
        """PresenceTracker's operator set is fixed: build one for the new set and swap it in.

        The new tracker is resynced before the swap so routing never sees a stale (everyone
        unavailable) tracker; readers take `self.presence` through lambdas and see the swap.
        """
        tracker = self._new_presence(extensions)
        await tracker.resync(self.ami)
        self._swap_presence(tracker)

    def waiting_now(self) -> list[WaitingCaller]:
        """The callers waiting in the pool queues now (the wallboard's "waiting now")."""
        return self.router.waiting.snapshot() if self.router is not None else []

    async def start(self) -> None:
        s = self.settings
        await migrate.upgrade(s.database_url)
        directory = await RoutingStore(self.sessionmaker, country=s.country).load_directory()
        routing = load_routing_config(s.resolve(s.routing), directory)
        # callers waiting in the pool hear their place and wait, whispered over the control
        # socket (the AMI user may not originate): hotline.pbx.whisper, decision 0006
        whisper = Whisperer(self.asterisk.control_socket,
                            self.asterisk.to_inside(self.asterisk.sounds_dir / "prompts"))
        waiting = WaitingRoom(events=self.store.event, whisper=whisper)
        self.router = CallRouter(self.sessionmaker, routing, self.presence_now,
                                 ami=lambda: self.ami, country=s.country, metrics=self.metrics,
                                 writes=self.store.writes,  # one write path, in order
                                 waiting=waiting)
        # callbacks and click-to-call: legs originated on the control socket (decision 0008)
        self.callbacks = CallbackDesk(
            self.sessionmaker, self.router, lambda: self.ami,
            Originator(self.asterisk.control_socket), pool_queue=s.asterisk.pool_queue,
            enabled=s.asterisk.callback_contact is not None, config=self._callback_config)
        self.router.callbacks = self.callbacks
        # the dialplan's queue.callback.listen: the bot's gateway hears "call me back" through a
        # spy channel (decision 0008, addendum); without the bot the offer is by key only
        if self.bot is not None:
            self.router.listener = self.bot.queue_listener(whisper.spy)
        # what routing and the caller lookup answer from while the database is away
        await self.router.store.load_directory()
        log.info("directory.remembered", callers=await remember_all(self.sessionmaker))
        ops = await self.operators()
        self.presence = self._new_presence([o.extension for o in ops])
        if self.presence_bus is not None:
            await self.presence_bus.start()
        self.ami.on_connected(self._reload_if_pending)
        if s.mode == "demo":
            await ensure_demo_users(self.sessionmaker, s.resolve(s.var_dir))
        await self.ami.start()
        await self._reconcile_at_start()
        self.dialplans.on_activated = self._pool_changed
        await self.dialplans.start()
        if self.dialplans.ready:
            await self._pool_changed(self.dialplans.active)
        if self.bot is not None:
            await self.bot.start()
        await self.agi.start()
        await self.callbacks.start()
        self.retention.start()
        self.reconciler.start(s.service.reconcile_interval)
        self._http_task = asyncio.create_task(self.http.serve(), name="http")
        while not self.http.started:
            if self._http_task.done():
                self._http_task.result()  # raises the bind error
                raise RuntimeError("HTTP server stopped during start-up")
            await asyncio.sleep(0.02)
        log.info("service.started", agi=s.service.agi_port, audiosocket=s.service.audiosocket_port,
                 node=s.service.node, http=f"http://{s.service.http_host or s.service.host}:{s.service.http_port}",
                 dialplan=self.dialplans.health().get("dialplan_active"))

    async def _reconcile_at_start(self) -> None:
        """Close what a crash left open, from Asterisk's records, before serving new calls
        (AMI is waited for briefly: without it a live call cannot be told from an ended one,
        and the periodic pass does it later)."""
        with contextlib.suppress(TimeoutError):
            await self.ami.wait_connected(5)
        try:
            self.reconciled = await self.reconciler.run_once()
        except Exception:
            log.exception("reconcile.failed")
            return
        r = self.reconciled
        log.info("reconcile.at_start", ran=r.ran, closed=r.closed, attempts=r.attempts_closed,
                 fallback_recorded=r.fallback_recorded, still_up=r.skipped_live)

    async def drain(self, grace: float | None = None, hurry: asyncio.Event | None = None) -> bool:
        """Stop taking calls and let those in progress finish, at most `grace` seconds
        (`service.drain_grace`; `hurry` set cuts it short); True if none was left.

        New calls find the FastAGI port closed: AGI() fails at once and Asterisk's dialplan
        puts the caller into the operator pool. `stop()` then ends what is left: those calls
        go on in Asterisk and their rows are closed from its records at the next start.
        """
        grace = self.settings.service.drain_grace if grace is None else grace
        log.info("service.draining", calls=self.agi.active_calls, grace=grace)
        self.agi.close_listener()
        idle = await self.agi.wait_idle(grace, hurry)
        if idle:
            log.info("service.drained")
        else:
            log.warning("service.drain_incomplete", calls_left=self.agi.active_calls,
                        hint="they go on in Asterisk; their rows are closed at the next start")
        return idle

    async def stop(self) -> None:
        if self.callbacks is not None:
            await self.callbacks.stop()
        await self.agi.stop()
        await self.reconciler.stop()
        if self._http_task is not None:
            self.http.should_exit = True
            with contextlib.suppress(Exception):
                await self._http_task
            self._http_task = None
        await self.retention.stop()
        if self.bot is not None:
            await self.bot.stop()
        await self.dialplans.stop()
        if self.presence_bus is not None:
            await self.presence_bus.stop()
        await self.ami.stop()
        await self.store.writes.close(timeout=30)  # what is still queued then is logged as lost
        await self.engine.dispose()
        log.info("service.stopped")
