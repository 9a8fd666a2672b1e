"""How the IVR plugs into the service: one function the composition root can call.

    registry, flow = build_ivr(settings, store, sessionmaker, sounds_dir, to_inside)
    await registry.start()          # loads (and pre-renders) the dialplan, watches the file
    registry.install_sighup()       # optional: kill -HUP reloads
    service.agi.handler = flow      # or pass it as Service(handler=...)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callrouting.callback_desk import CallbackConfig
from callrouting.callbacks import OpeningHours
from callrouting.model import Directory
from hotline.app.settings import Settings
from hotline.clock import utcnow
from hotline.db.calls import CallStore
from hotline.metrics import Metrics
from hotline.pbx.asterisk import PoolParams
from ivr.model import Dialplan, QueueWait, is_holiday, opening_hours
from ivr.registry import DialplanRegistry
from ivr.session import BotFn, CachedPrompts, IvrCallFlow, TransferFn
from ivr.store import DialplanVersionStore
from lottery.facts import DbLotteryFacts
from recordings.settings import RecordingSettings
from voicebot.prompts import PromptCache
from voicebot.tts import TtsEngine
from voicebot.tts_engines import make_tts


def build_ivr(
    settings: Settings,
    store: CallStore,
    sessionmaker: async_sessionmaker[AsyncSession],
    sounds_dir: Path,
    to_inside: Callable[[Path], str],
    *,
    dialplan_path: Path | None = None,
    tts: TtsEngine | None = None,
    bot: BotFn | None = None,
    transfer: TransferFn | None = None,
    clock: Callable[[], datetime] = utcnow,
    poll_interval: float = 1.0,
    recordings: RecordingSettings | None = None,
    sound_dirs: tuple[Path, ...] = (),
    metrics: Metrics | None = None,
) -> tuple[DialplanRegistry, IvrCallFlow]:
    """`sounds_dir`/`to_inside`: `AsteriskInstance(settings).sounds_dir` and `.to_inside`."""
    prompts = CachedPrompts(PromptCache(tts or make_tts("espeak"), sounds_dir / "prompts"),
                            to_inside)
    registry = DialplanRegistry(
        dialplan_path or settings.resolve(settings.dialplan),
        DialplanVersionStore(sessionmaker),
        prepare=prompts.prerender,
        poll_interval=poll_interval,
        sound_dirs=sound_dirs,
        follow_store=settings.cluster.enabled,  # a cluster's nodes share one dialplan
    )
    flow = IvrCallFlow(
        store, registry, prompts, DbLotteryFacts(sessionmaker, clock),
        country=settings.country, pool_queue=settings.asterisk.pool_queue,
        bot=bot, transfer=transfer, clock=clock, recordings=recordings,
        metrics=metrics or store.metrics,
    )
    return registry, flow


@dataclass(frozen=True)
class PoolPlan:
    """The pool queue's parameters for Asterisk and the extensions held back for overflow."""

    params: PoolParams
    overflow: frozenset[str] = frozenset()
    problem: str | None = None  # why the dialplan's overflow cannot be used (logged)


def pool_params(queue: QueueWait | None, directory: Directory) -> PoolPlan:
    """From the dialplan's `queue:` and the directory: wrap-up, and with an overflow, penalty 2
    for its members (team leads or the second team) and 1 for everyone else."""
    if queue is None:
        return PoolPlan(PoolParams())
    ops = list(directory.operators.values())
    overflow: set[str] = set()
    problem = None
    if queue.overflow is not None:
        if queue.overflow.ring == "team_leads":
            overflow = {directory.operators[t.lead_id].extension for t in directory.teams.values()
                        if t.lead_id is not None and t.lead_id in directory.operators}
        else:
            team = next((t for t in directory.teams.values() if t.name == queue.overflow.team), None)
            if team is None:
                problem = f"overflow team {queue.overflow.team!r} is not in the directory"
            else:
                overflow = {o.extension for o in ops if o.team_id == team.id}
        if not overflow and problem is None:
            problem = "the overflow has nobody to ring"
        if overflow and overflow >= {o.extension for o in ops}:
            problem, overflow = "the overflow would hold back every operator", set()
    if not overflow or queue.overflow is None:
        return PoolPlan(PoolParams(wrapup=queue.wrapup), problem=problem)
    penalties = {o.extension: 2 if o.extension in overflow else 1 for o in ops}
    return PoolPlan(PoolParams(queue.wrapup, penalties, queue.overflow.after), frozenset(overflow))


def callback_config(dialplan: Dialplan | None) -> CallbackConfig:
    """Tries, their spacing and the hours of callbacks, from the dialplan's `queue.callback`
    and its business hours (none configured, or `business_hours_only: false`: any time)."""
    cb = dialplan.queue.callback if dialplan is not None and dialplan.queue is not None else None
    if dialplan is None or cb is None:
        return CallbackConfig()
    hours = None
    if cb.business_hours_only and dialplan.business_hours:
        dp = dialplan
        hours = OpeningHours(ZoneInfo(dp.timezone), opening_hours(dp),
                             holiday=lambda day: is_holiday(dp, day))
    return CallbackConfig(attempts=cb.attempts, retry_after_s=float(cb.retry_after),
                          ring_caller_s=cb.ring_caller, hours=hours)
