"""Starting a call's recording: MixMonitor from the FastAGI session, before the operator Dial.

`MixMonitor(<file>,b)` mixes both directions and, with `b`, writes audio only while the channel
is bridged: the recording runs from the moment an operator answers. A dialplan `operator` node
with `record: false` (or recordings turned off in settings) stores a row saying so instead,
so the call record shows why there is no audio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.clock import utcnow
from hotline.db.calls import CallEventRow
from recordings.models import RecordingRow
from recordings.settings import RecordingSettings
from recordings.storage import recording_relpath, resolve_recording, wav_duration

_SAFE_INSIDE = re.compile(r"^/[A-Za-z0-9/._-]+$")


class AgiExec(Protocol):
    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> object: ...


@dataclass(frozen=True)
class RecordingStarted:
    recording_id: int
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
    sm: async_sessionmaker[AsyncSession],
    settings: RecordingSettings,
    *,
    call_id: int,
    node: str | None = None,
    record: bool = True,
    now: datetime | None = None,
) -> RecordingStarted:
    """Call from the AGI session right before the operator `Dial`.

    `record` is the dialplan node's `record` flag (`transfer_context["record"]`).
    `settings.dir` must be absolute (`RecordingSettings.resolved`).
    """
    now = now or utcnow()
    reason = None
    if not settings.enabled:
        reason = "recording is turned off in settings"
    elif not record:
        reason = f"dialplan node {node or '?'} has record: false"
    if reason is not None:
        async with sm() as s, s.begin():
            row = RecordingRow(call_id=call_id, path=None, started_at=now, enabled=False,
                               disabled_reason=reason, node=node)
            s.add(row)
            s.add(CallEventRow(call_id=call_id, at=now, kind="recording_disabled",
                               data={"reason": reason, "node": node}))
            await s.flush()
            return RecordingStarted(row.id, None, False, reason)

    rel = recording_relpath(call_id, now, settings.format)
    _make_shared_dir(resolve_recording(settings.dir, rel).parent)
    await agi.exec("MixMonitor", mixmonitor_args(settings, rel))
    async with sm() as s, s.begin():
        row = RecordingRow(call_id=call_id, path=rel, started_at=now, enabled=True, node=node)
        s.add(row)
        s.add(CallEventRow(call_id=call_id, at=now, kind="recording_started",
                           data={"path": rel, "node": node}))
        await s.flush()
        return RecordingStarted(row.id, rel, True)


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


async def finish_recording(sm: async_sessionmaker[AsyncSession], settings: RecordingSettings,
                           recording_id: int, rel: str) -> None:
    """After hang-up: store the file's size and duration (None when Asterisk wrote nothing)."""
    path: Path = resolve_recording(settings.dir, rel)
    size = path.stat().st_size if path.is_file() else None
    duration = wav_duration(path) if size else None
    async with sm() as s, s.begin():
        await s.execute(update(RecordingRow).where(RecordingRow.id == recording_id)
                        .values(size=size, duration=duration))


async def stop_recording(agi: AgiExec) -> None:
    """End the call's MixMonitor once the conversation is over (the caller may stay on for
    the rating): Asterisk closes the file and writes the WAV header's final sizes."""
    await agi.exec("StopMixMonitor")
