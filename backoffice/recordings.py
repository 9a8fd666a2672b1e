"""A call's recording for QA, streamed with HTTP Range requests (seeking in the player).

Recordings are named by id only: nothing of the request reaches the file system, and the
stored path is checked to stay inside the recordings directory before a byte is served.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice.access import Who
from backoffice.common import Deps, api_router, utc
from hotline.api_errors import ApiError, ErrorBody, not_found
from recordings.models import RecordingRow
from recordings.storage import UnsafePath, media_type, resolve_recording


async def recording_file(sm: async_sessionmaker[AsyncSession], recordings_dir: Path,
                         recording_id: int) -> tuple[RecordingRow, Path]:
    """The recording's row and its file, or the error that says why there is none."""
    async with sm() as s:
        rec = await s.get(RecordingRow, recording_id)
    if rec is None:
        raise not_found("recording", recording_id)
    if rec.purged_at is not None:
        raise ApiError(410, "recording_purged", "the recording was deleted by the retention policy",
                       {"purged_at": utc(rec.purged_at).isoformat() if rec.purged_at else None,
                        "reason": rec.purge_reason})
    if not rec.path:
        raise ApiError(404, "recording_not_recorded", rec.disabled_reason or "this call was not recorded",
                       {"reason": rec.disabled_reason})
    try:
        path = resolve_recording(recordings_dir, rec.path)
    except UnsafePath as exc:
        raise ApiError(403, "recording_path_refused", "the stored recording path is not safe",
                       {"recording_id": recording_id}) from exc
    if not await asyncio.to_thread(path.is_file):
        raise ApiError(404, "recording_file_missing", "the recording file is missing",
                       {"recording_id": recording_id})
    return rec, path


def build_router(deps: Deps) -> APIRouter:
    if not deps.settings.dir.is_absolute():
        raise ValueError("RecordingSettings.dir must be absolute: use settings.resolved(root)")
    router = api_router()
    audio_doc: dict[str, Any] = dict(
        tags=["recordings"], response_class=FileResponse,
        responses={200: {"content": {"audio/wav": {}}, "description": "the recording"},
                   206: {"description": "the requested byte range"},
                   404: {"model": ErrorBody}, 410: {"model": ErrorBody},
                   416: {"description": "range not satisfiable"}},
    )

    @router.head("/recordings/{recording_id}/audio", operation_id="recording_audio_head",
                 summary="Size and type of a recording", **audio_doc)
    @router.get("/recordings/{recording_id}/audio", operation_id="recording_audio",
                summary="Stream a recording (HTTP Range requests for seeking)", **audio_doc)
    async def recording_audio(recording_id: int, who: Who) -> Any:
        rec, path = await recording_file(deps.sm, deps.settings.dir, recording_id)
        return FileResponse(path, media_type=media_type(path),
                            filename=f"call-{rec.call_id}-recording-{rec.id}{path.suffix}",
                            content_disposition_type="inline",
                            headers={"Cache-Control": "private, no-store"})

    return router
