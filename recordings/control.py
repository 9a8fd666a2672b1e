"""Starting a call's recording: MixMonitor from the FastAGI session, before the operator Dial.

`MixMonitor(<file>,b)` mixes both directions and, with `b`, writes audio only while the channel
is bridged: the recording runs from the moment an operator answers. A dialplan `operator` node
with `record: false` (or recordings turned off in settings) stores a row saying so instead,
so the call record shows why there is no audio.

Rows go through the one write path (`hotline.db.writes.WriteQueue`); the recording's row is
stored before MixMonitor starts.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.clock import utcnow
from hotline.db.calls import CallEventRow, CallKey
from hotline.db.writes import RowRef, WriteQueue, known_id, ref_id
from recordings.models import RecordingRow
from recordings.settings import RecordingSettings
from recordings.storage import recording_relpath, resolve_recording, wav_duration

log = structlog.get_logger("recordings.control")

_SAFE_INSIDE = re.compile(r"^/[A-Za-z0-9/._-]+$")


class AgiExec(Protocol):
    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> object: ...


@dataclass(frozen=True)
class RecordingStarted:
    recording_id: RowRef  # the row (its id is set once the write queue has stored it)
    path: str | None  # relative to the recordings directory; None when not recorded
    enabled: bool
    reason: str | None = None


def mixmonitor_args(settings: RecordingSettings, rel: str) -> str:
    """The MixMonitor argument string: the file as Asterisk sees it, then options."""
    inside_dir = (settings.asterisk_dir or str(settings.dir)).rstrip("/")
    inside = f"{inside_dir}/{rel}"
    if not _SAFE_INSIDE.match(inside) or ".." in inside.split("/"):
        raise ValueError(f"unsafe recording path for Asterisk: {inside!r}")
    return f"{inside},b"


async def start_recording(
    agi: AgiExec,
    writes: WriteQueue,
    settings: RecordingSettings,
    *,
    call_id: CallKey,
    node: str | None = None,
    record: bool = True,
    now: datetime | None = None,
    row_wait: float = 2.0,
) -> RecordingStarted:
    """Call from the AGI session right before the operator `Dial`.

    The row is stored before MixMonitor starts, so no file exists that the database (and
    retention) does not know. If the database does not take the row within `row_wait`
    seconds (locked, unreachable), the call is not recorded and the row, stored later, says
    why: the caller goes on to an operator rather than wait for the database.
    `record` is the dialplan node's `record` flag (`transfer_context["record"]`).
    `settings.dir` must be absolute (`RecordingSettings.resolved`).
    """
    now = now or utcnow()
    ref = RowRef("recording")
    reason = None
    if not settings.enabled:
        reason = "recording is turned off in settings"
    elif not record:
        reason = f"dialplan node {node or '?'} has record: false"
    if reason is not None:
        off = reason

        async def disabled(s: AsyncSession) -> int:
            cid = ref_id(call_id)
            row = RecordingRow(call_id=cid, path=None, started_at=now, enabled=False,
                               disabled_reason=off, node=node)
            s.add(row)
            s.add(CallEventRow(call_id=cid, at=now, kind="recording_disabled",
                               data={"reason": off, "node": node}))
            await s.flush()
            ref.id = row.id
            return row.id

        ref.stored = writes.submit(disabled, what="recording_disabled",
                                   data={"call": known_id(call_id), "reason": off, "node": node})
        return RecordingStarted(ref, None, False, reason)

    async def enabled(s: AsyncSession) -> str:
        cid = ref_id(call_id)
        rel = recording_relpath(cid, now, settings.format)
        row = RecordingRow(call_id=cid, path=rel, started_at=now, enabled=True, node=node)
        s.add(row)
        s.add(CallEventRow(call_id=cid, at=now, kind="recording_started",
                           data={"path": rel, "node": node}))
        await s.flush()
        ref.id = row.id
        return rel

    ref.stored = writes.submit(enabled, what="recording_started",
                               data={"call": known_id(call_id), "node": node,
                                     "started_at": now.isoformat()})
    await asyncio.wait([ref.stored], timeout=row_wait)
    if not ref.stored.done() or ref.stored.exception() is not None:
        why = ("the database did not store the recording's row in time"
               if not ref.stored.done() else "the recording's row could not be stored")
        log.warning("recording.not_started", call=known_id(call_id), reason=why)
        if not ref.stored.done():  # runs after the insert: the row ends up saying why
            _mark_not_recorded(writes, ref, call_id, now, why)
        return RecordingStarted(ref, None, False, why)
    rel = ref.stored.result()
    try:
        _make_shared_dir(resolve_recording(settings.dir, rel).parent)
        await agi.exec("MixMonitor", mixmonitor_args(settings, rel))
    except Exception as exc:
        if type(exc).__name__ != "AgiHangup":  # a hang-up: the file simply stays empty
            _mark_not_recorded(writes, ref, call_id, now, f"MixMonitor did not start: {exc}")
        raise
    return RecordingStarted(ref, rel, True)


def _make_shared_dir(path: Path) -> None:
    """Make the recording's directory so that Asterisk, which runs as its own user in the
    recordings directory's group, can write into it: each new level group-writable, setgid
    (what is made inside keeps the group; the umask would take the group's write away)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        d.chmod(0o2770)


def _mark_not_recorded(writes: WriteQueue, ref: RowRef, call_id: CallKey, now: datetime,
                       why: str) -> None:
    async def job(s: AsyncSession) -> None:
        rid = ref.require()
        await s.execute(update(RecordingRow).where(RecordingRow.id == rid)
                        .values(enabled=False, path=None, disabled_reason=why[:200]))
        s.add(CallEventRow(call_id=ref_id(call_id), at=now, kind="recording_disabled",
                           data={"reason": why, "recording_id": rid}))

    writes.submit(job, what="recording_not_started", data={"call": known_id(call_id), "reason": why})


def finish_recording(writes: WriteQueue, settings: RecordingSettings,
                     recording_id: int | RowRef, rel: str) -> asyncio.Future[Any]:
    """After hang-up: store the file's size and duration (None when Asterisk wrote nothing)."""
    path: Path = resolve_recording(settings.dir, rel)
    size = path.stat().st_size if path.is_file() else None
    duration = wav_duration(path) if size else None

    async def job(s: AsyncSession) -> None:
        await s.execute(update(RecordingRow).where(RecordingRow.id == ref_id(recording_id))
                        .values(size=size, duration=duration))

    return writes.submit(job, what="recording_finished",
                         data={"recording": known_id(recording_id), "path": rel, "size": size,
                               "duration": duration})


async def stop_recording(agi: AgiExec) -> None:
    """End the call's MixMonitor once the conversation is over (the caller may stay on for
    the rating): Asterisk closes the file and writes the WAV header's final sizes."""
    await agi.exec("StopMixMonitor")
