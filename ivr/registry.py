"""The active dialplan, and how it changes while calls are running.

A call takes `registry.active` once, when it starts, and keeps that `Dialplan` object to the
end: activating another version only changes what the *next* call gets.  Every activation
goes through `parse_dialplan` first; a text with problems is never activated, the last good
version keeps serving and the problems stay visible in `health()` until a good one loads.

Sources of a new version: the file on disk (polled every second, or on SIGHUP), an upload
through the API, or a rollback to a stored version.  A node of a cluster (`follow_store`)
also follows the version active in the shared store, polled as often as the file: what
another node activates becomes active here too, and at start the store's active version
serves rather than the file (docs/cluster.md).

Reading, parsing and checking run in a worker thread (`validate`), never in the event loop,
and within the YAML reader's limits (`hotline.yamlsrc.YamlLimits`: size, nodes, depth, no
aliases): calls in progress keep being served while an admin's file is checked.  Whatever
goes wrong with one file, the watcher and SIGHUP keep working for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import hashlib
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from hotline.problems import Marks, Problem, YamlFileError
from hotline.yamlsrc import read_text
from ivr.check import DialplanError, parse_dialplan
from ivr.model import Dialplan
from ivr.store import DialplanVersionStore, StoredVersion

log = structlog.get_logger("ivr.registry")

Prepare = Callable[[Dialplan], Awaitable[None]]
CHECK_THREADS = 2  # dialplan checks at once (each is bounded by the reader's limits)


class VersionNotFound(LookupError):
    pass


@dataclass(frozen=True)
class LoadFailure:
    source: str  # file path, "upload" or "version N"
    at: datetime
    problems: tuple[Problem, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "at": self.at.isoformat(),
            "problems": [str(p) for p in self.problems],
        }


class DialplanRegistry:
    """Holds the active dialplan; loads, validates, stores and switches versions."""

    def __init__(
        self,
        path: str | Path | None,
        store: DialplanVersionStore | None = None,
        *,
        sound_dirs: Sequence[str | Path] = (),
        prepare: Prepare | None = None,
        poll_interval: float = 1.0,
        follow_store: bool = False,
    ):
        self.path = Path(path) if path is not None else None
        self.store = store
        self.sound_dirs = list(sound_dirs)
        self.prepare = prepare  # e.g. pre-render the prompts before calls can hear them
        # told of each newly active dialplan (the service applies its `queue:` to Asterisk)
        self.on_activated: Callable[[Dialplan], Awaitable[None]] | None = None
        self.poll_interval = poll_interval
        self.follow_store = follow_store and store is not None
        self._active: Dialplan | None = None
        self.active_version: StoredVersion | None = None
        self.last_error: LoadFailure | None = None
        self._file_stamp: tuple[float, int] | None = None
        self._lock = asyncio.Lock()
        self._watch_task: asyncio.Task[None] | None = None
        self._reload_tasks: set[asyncio.Task[Any]] = set()
        self._check_slots = asyncio.Semaphore(CHECK_THREADS)

    # -- what calls use

    @property
    def active(self) -> Dialplan:
        if self._active is None:
            raise RuntimeError("no dialplan is active (load_file() has not succeeded)")
        return self._active

    @property
    def ready(self) -> bool:
        return self._active is not None

    # -- loading

    async def validate(
        self, text: str, name: str = "upload"
    ) -> tuple[Dialplan | None, list[Problem]]:
        """Parse and check `text` in a worker thread; the dialplan only when it has no problems."""
        async with self._check_slots:
            return await asyncio.to_thread(parse_dialplan, text, name, self.sound_dirs)

    async def load_file(self) -> Dialplan:
        """Load the dialplan file; raises DialplanError (and keeps the old version) if bad."""
        if self.path is None:
            raise RuntimeError("this registry has no dialplan file")
        stamp = _stamp(self.path)
        try:
            text = await asyncio.to_thread(read_text, self.path)  # at most the size limit
        except YamlFileError as exc:
            self._file_stamp = stamp
            self._fail(str(self.path), exc.problems)
            raise DialplanError(exc.problems) from None
        self._file_stamp = stamp
        return await self._install(text, str(self.path), source="file", by=None)

    async def reload(self) -> bool:
        """Reload the file; True when a new (or the same) good version is active.

        Never raises (but for cancellation): the watcher and SIGHUP rely on it.  An
        unexpected error is logged and shown in `health()` like a problem in the file.
        """
        try:
            await self.load_file()
        except DialplanError:
            return False
        except Exception as exc:
            log.exception("dialplan.reload_crashed", path=str(self.path))
            assert self.path is not None
            self._fail(str(self.path), _problems_for(
                str(self.path), f"could not check the file: {type(exc).__name__}: {exc}"))
            return False
        return True

    async def upload(self, text: str, by: str | None = None) -> StoredVersion:
        """Validate, store and activate an uploaded text (DialplanError if it has problems)."""
        await self._install(text, "upload", source="upload", by=by)
        assert self.active_version is not None
        return self.active_version

    async def activate(self, id_: int, source: str = "activate") -> StoredVersion:
        """Activate a stored version by its row id (validated again before it serves)."""
        if self.store is None:
            raise VersionNotFound("no version store")
        row = await self.store.get(id_)
        if row is None:
            raise VersionNotFound(f"no dialplan version {id_}")
        await self._install(row.content, f"version {id_}", source=source, by=None)
        assert self.active_version is not None
        return self.active_version

    async def rollback(self, id_: int | None = None) -> StoredVersion:
        """Activate `id_`, or the version that was active before the active one."""
        if id_ is None:
            if self.store is None:
                raise VersionNotFound("no version store")
            current = self.active_version.id if self.active_version else None
            before = await self.store.previous(current)
            if before is None:
                raise VersionNotFound("no earlier version to roll back to")
            id_ = before.id
        return await self.activate(id_, source="rollback")

    async def versions(self) -> list[StoredVersion]:
        return await self.store.list() if self.store else []

    async def diff(self, a: int, b: int) -> str:
        if self.store is None:
            raise VersionNotFound("no version store")
        va, vb = await self.store.get(a), await self.store.get(b)
        if va is None or vb is None:
            raise VersionNotFound(f"no dialplan version {a if va is None else b}")
        return "".join(difflib.unified_diff(
            va.content.splitlines(keepends=True), vb.content.splitlines(keepends=True),
            fromfile=f"{va.id} {va.version_id}", tofile=f"{vb.id} {vb.version_id}",
        ))

    async def _install(self, text: str, where: str, *, source: str, by: str | None) -> Dialplan:
        async with self._lock:
            dialplan, problems = await self.validate(text, where)
            if problems or dialplan is None:
                self._fail(where, problems)
                raise DialplanError(problems)
            if self._active is not None and dialplan.version_id == self._active.version_id:
                self.last_error = None
                return self._active  # same content: nothing to switch
            stored = None
            if self.store is not None:
                stored = await self.store.save(
                    version_id=dialplan.version_id, name=dialplan.name, content=text,
                    sha=hashlib.sha256(text.encode()).hexdigest(), source=source, created_by=by,
                )
            if self.prepare is not None:
                try:
                    await self.prepare(dialplan)
                except Exception:  # prompts can still be rendered on demand
                    log.exception("dialplan.prepare_failed", version=dialplan.version_id)
            if stored is not None and self.store is not None:
                await self.store.mark_active(stored.id)
                stored = await self.store.get(stored.id)
            previous = self._active.version_id if self._active else None
            self._active, self.active_version, self.last_error = dialplan, stored, None
            log.info("dialplan.activated", version=dialplan.version_id, previous=previous,
                     source=source, id=stored.id if stored else None)
            if self.on_activated is not None:
                try:
                    await self.on_activated(dialplan)
                except Exception:
                    log.exception("dialplan.on_activated_failed", version=dialplan.version_id)
            return dialplan

    def _fail(self, where: str, problems: Sequence[Problem]) -> None:
        self.last_error = LoadFailure(where, datetime.now(UTC), tuple(problems))
        log.error("dialplan.rejected", source=where, problems=[str(p) for p in problems],
                  serving=self._active.version_id if self._active else None)

    # -- watching the file, SIGHUP

    async def start(self) -> None:
        """Load the file (a bad file at start-up raises) and start watching it; following the
        store, its active version if it has one (the file still if that one fails)."""
        if not (self.follow_store and await self._follow(at_start=True)):
            await self.load_file()
        if self._watch_task is None:
            self._watch_task = asyncio.create_task(self._watch(), name="dialplan-watch")

    async def stop(self) -> None:
        tasks = [t for t in [self._watch_task, *self._reload_tasks] if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._watch_task = None
        self._reload_tasks.clear()

    async def _watch(self) -> None:
        assert self.path is not None
        while True:
            await asyncio.sleep(self.poll_interval)
            stamp = _stamp(self.path)
            if stamp != self._file_stamp:
                log.info("dialplan.file_changed", path=str(self.path))
                await self.reload()  # never raises: one bad file cannot end the watch
            if self.follow_store:
                await self._follow()

    async def _follow(self, *, at_start: bool = False) -> bool:
        """Make the store's active version active here if it is another one (another node
        activated it); True when the store's version serves. Never raises but for
        cancellation: the watch goes on when the store cannot be read."""
        assert self.store is not None
        try:
            row = await self.store.active()
            if row is None:
                return False
            if self.active_version is not None and row.id == self.active_version.id:
                return True
            async with self._lock:
                if self._active is not None and row.version_id == self._active.version_id:
                    self.active_version = row  # the same text, stored twice
                    return True
                dialplan, problems = await self.validate(row.content, f"version {row.id}")
                if problems or dialplan is None:  # checked when it was activated: sound files?
                    self._fail(f"version {row.id}", problems)
                    return False
                if self.prepare is not None:
                    try:
                        await self.prepare(dialplan)
                    except Exception:
                        log.exception("dialplan.prepare_failed", version=dialplan.version_id)
                previous = self._active.version_id if self._active else None
                self._active, self.active_version, self.last_error = dialplan, row, None
                if at_start and self.path is not None:
                    self._file_stamp = _stamp(self.path)  # the file is not news
            log.info("dialplan.activated", version=dialplan.version_id, previous=previous,
                     source="store", id=row.id)
            if self.on_activated is not None:
                try:
                    await self.on_activated(dialplan)
                except Exception:
                    log.exception("dialplan.on_activated_failed", version=dialplan.version_id)
            return True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("dialplan.follow_failed")
            return False

    def request_reload(self) -> None:
        """Signal-safe (call from the loop): reload the file in a task of its own."""
        task = asyncio.get_running_loop().create_task(self.reload(), name="dialplan-reload")
        self._reload_tasks.add(task)
        task.add_done_callback(self._reload_tasks.discard)

    def install_sighup(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """`kill -HUP` reloads the dialplan file."""
        (loop or asyncio.get_running_loop()).add_signal_handler(signal.SIGHUP, self.request_reload)

    # -- health

    def health(self) -> dict[str, Any]:
        dp = self._active
        return {
            "dialplan_ok": dp is not None and self.last_error is None,
            "dialplan_active": dp.version_id if dp else None,
            "dialplan_active_id": self.active_version.id if self.active_version else None,
            "dialplan_error": self.last_error.as_dict() if self.last_error else None,
        }


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime, st.st_size


def _problems_for(file: str, message: str) -> list[Problem]:
    return [Problem(Marks(file).at(()), message)]
