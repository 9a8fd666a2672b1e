"""Operator presence (available / ringing / in use / unavailable) as seen through AMI.

`PresenceBook` is the pure core: it takes device states and PJSIP contact statuses and answers
what each operator's phone can do, returning the changes each input caused. `PresenceTracker`
adds subscribers, `wait_for` and the glue to an `AmiClient`: live events, a full resync after
every (re)connect, and "stale" (everyone unavailable) while AMI is down, so routing never acts on
old values.

Sources (Asterisk 22): `DeviceStateChange` (Device: PJSIP/<endpoint>, State: NOT_INUSE ...),
`ContactStatus` (AOR, EndpointName, URI, ContactStatus), and on resync `DeviceStateList` (the
AMI user may not list endpoints or contacts: see `_resync_once`). Operators are keyed by
extension = PJSIP endpoint name; contacts whose event names no endpoint fall back to the AOR
name (the usual one-AOR-per-endpoint setup).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from callrouting.model import Directory, Presence

if TYPE_CHECKING:
    from hotline.pbx.ami import AmiClient

# Device states as Asterisk names them (ast_devstate_str) -> presence, given the phone is
# registered. None means "device state does not decide; look at contacts".
DEVICE_STATE_PRESENCE: dict[str, Presence | None] = {
    "NOT_INUSE": Presence.AVAILABLE,
    "INUSE": Presence.IN_USE,
    "BUSY": Presence.IN_USE,
    "ONHOLD": Presence.IN_USE,
    "RINGING": Presence.RINGING,
    "RINGINUSE": Presence.IN_USE,  # already talking; a second call rings: treat as busy
    "UNAVAILABLE": Presence.UNAVAILABLE,
    "INVALID": Presence.UNAVAILABLE,
    "UNKNOWN": None,
}

# PJSIPShowEndpoints gives the human form (ast_devstate2str).
DEVICE_STATE_TEXT: dict[str, str] = {
    "unknown": "UNKNOWN",
    "not in use": "NOT_INUSE",
    "in use": "INUSE",
    "busy": "BUSY",
    "invalid": "INVALID",
    "unavailable": "UNAVAILABLE",
    "ringing": "RINGING",
    "ring+inuse": "RINGINUSE",
    "on hold": "ONHOLD",
}

# Contact statuses: live ContactStatus events and ContactList items.
REACHABLE_CONTACT = {"reachable", "unknown", "nonqualified", "unqualified", "created"}
UNREACHABLE_CONTACT = {"unreachable"}
REMOVED_CONTACT = {"removed"}
# "Updated" (re-registration) says nothing about reachability: keep what we knew.

_BUSY = {Presence.IN_USE, Presence.RINGING}


def normalize_device_state(state: str) -> str:
    """`NOT_INUSE` or `Not in use` -> `NOT_INUSE`; anything unknown -> `UNKNOWN`."""
    s = state.strip()
    if s.upper() in DEVICE_STATE_PRESENCE:
        return s.upper()
    return DEVICE_STATE_TEXT.get(s.lower(), "UNKNOWN")


def presence_for(device_state: str | None, contacts: Mapping[str, str] | None) -> Presence:
    """Presence from an (optional) device state and (optional) contacts {uri: status}.

    A call in progress always wins (Asterisk knows about the channel); otherwise a phone with
    known contacts none of which is reachable is unavailable; otherwise the device state
    decides, and an unknown device state counts as available only with a reachable contact.
    """
    mapped = DEVICE_STATE_PRESENCE.get(normalize_device_state(device_state or "UNKNOWN"))
    if mapped in _BUSY:
        assert mapped is not None
        return mapped
    reachable = None
    if contacts is not None:
        reachable = any(st in REACHABLE_CONTACT for st in contacts.values())
        if not reachable:
            return Presence.UNAVAILABLE
    if mapped is not None:
        return mapped
    return Presence.AVAILABLE if reachable else Presence.UNAVAILABLE


def extension_of_device(device: str) -> str | None:
    """`PJSIP/1001` -> `1001`; other technologies and hints -> None."""
    tech, sep, name = device.partition("/")
    if not sep or tech.upper() != "PJSIP" or not name or "/" in name:
        return None
    return name


@dataclass(frozen=True)
class PresenceChange:
    extension: str
    old: Presence
    new: Presence


class PresenceBook:
    """Pure presence state for a fixed set of extensions. Every mutator returns the changes."""

    def __init__(self, extensions: Iterable[str]) -> None:
        self._exts: tuple[str, ...] = tuple(dict.fromkeys(extensions))
        self._device: dict[str, str | None] = {e: None for e in self._exts}
        self._contacts: dict[str, dict[str, str] | None] = {e: None for e in self._exts}
        self.stale = True  # nothing known until the first resync

    @property
    def extensions(self) -> tuple[str, ...]:
        return self._exts

    def get(self, extension: str) -> Presence:
        if self.stale or extension not in self._device:
            return Presence.UNAVAILABLE
        return presence_for(self._device[extension], self._contacts[extension])

    def snapshot(self) -> dict[str, Presence]:
        return {e: self.get(e) for e in self._exts}

    def device_state(self, extension: str) -> str | None:
        return self._device.get(extension)

    def contacts(self, extension: str) -> dict[str, str] | None:
        c = self._contacts.get(extension)
        return dict(c) if c is not None else None

    def _diff(self, before: dict[str, Presence]) -> list[PresenceChange]:
        after = self.snapshot()
        return [PresenceChange(e, before[e], after[e]) for e in self._exts if before[e] != after[e]]

    def set_device_state(self, device: str, state: str) -> list[PresenceChange]:
        ext = extension_of_device(device)
        if ext is None or ext not in self._device:
            return []
        before = self.snapshot()
        self._device[ext] = normalize_device_state(state)
        return self._diff(before)

    def set_contact_status(self, name: str, uri: str, status: str) -> list[PresenceChange]:
        """`name` is the endpoint (or AOR) name; `status` a ContactStatus/ContactList status."""
        if name not in self._contacts:
            return []
        before = self.snapshot()
        contacts = self._contacts[name]
        if contacts is None:
            contacts = self._contacts[name] = {}
        st = status.strip().lower()
        if st in REMOVED_CONTACT:
            contacts.pop(uri, None)
        elif st == "updated":
            contacts.setdefault(uri, "unknown")
        else:
            contacts[uri] = st
        return self._diff(before)

    def mark_stale(self) -> list[PresenceChange]:
        """AMI went away: report everyone unavailable until the next resync."""
        before = self.snapshot()
        self.stale = True
        return self._diff(before)

    def load(
        self,
        device_states: Mapping[str, str],
        contacts: Mapping[str, Mapping[str, str]] | None,
    ) -> list[PresenceChange]:
        """Replace everything with a resync result.

        `device_states`: {device or extension: state}; extensions absent from it become
        UNKNOWN. `contacts`: {extension: {uri: status}}, or None if contacts could not be
        listed (then contacts are unknown and only device states count).
        """
        before = self.snapshot()
        for e in self._exts:
            self._device[e] = None
            self._contacts[e] = None if contacts is None else {}
        for dev, state in device_states.items():
            ext = extension_of_device(dev) if "/" in dev else dev
            if ext in self._device:
                self._device[ext] = normalize_device_state(state)
        if contacts is not None:
            for ext, items in contacts.items():
                if ext in self._contacts:
                    self._contacts[ext] = {u: s.strip().lower() for u, s in items.items()}
        self.stale = False
        return self._diff(before)


PresenceCallback = Callable[[PresenceChange], Any]


class PresenceTracker:
    """Presence for the directory's operators, fed by an `AmiClient` (see `attach`)."""

    def __init__(self, operators: Directory | Iterable[str], *, logger: Any = None) -> None:
        if isinstance(operators, Directory):
            exts: Iterable[str] = (o.extension for o in operators.operators.values())
        else:
            exts = operators
        self.book = PresenceBook(exts)
        self.log = logger if logger is not None else structlog.get_logger("callrouting.presence")
        self._subs: list[PresenceCallback] = []
        self._waiters: set[asyncio.Future[None]] = set()
        self._resyncing = False
        self._replay: list[tuple[str, tuple[str, ...]]] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self.resyncs = 0
        self.list_timeout = 10.0  # per list action
        self.resync_attempts = 3
        self.resync_retry_delay = 1.0

    # ---- queries

    @property
    def stale(self) -> bool:
        return self.book.stale

    def get(self, extension: str) -> Presence:
        return self.book.get(extension)

    def snapshot(self) -> dict[str, Presence]:
        return self.book.snapshot()

    def subscribe(self, callback: PresenceCallback) -> Callable[[], None]:
        """`callback(PresenceChange)` on every change (sync; keep it quick)."""
        self._subs.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subs.remove(callback)

        return unsubscribe

    async def wait_for(self, extension: str, presence: Presence, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until `extension` has `presence` (TimeoutError otherwise). Mostly for tests."""
        async with asyncio.timeout(timeout):
            while self.get(extension) != presence:
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._waiters.add(fut)
                try:
                    await fut
                finally:
                    self._waiters.discard(fut)

    # ---- inputs (pure core + notification)

    def on_device_state(self, device: str, state: str) -> None:
        if self._resyncing:
            self._replay.append(("device", (device, state)))
        self._emit(self.book.set_device_state(device, state))

    def on_contact_status(self, endpoint: str, aor: str, uri: str, status: str) -> None:
        name = endpoint if endpoint in self.book.extensions else aor
        if self._resyncing:
            self._replay.append(("contact", (name, uri, status)))
        self._emit(self.book.set_contact_status(name, uri, status))

    def on_disconnected(self) -> None:
        changes = self.book.mark_stale()
        self.log.info("presence.stale", reason="AMI disconnected")
        self._emit(changes)

    def _emit(self, changes: list[PresenceChange]) -> None:
        for ch in changes:
            self.log.debug("presence.changed", extension=ch.extension, old=ch.old, new=ch.new)
            for cb in list(self._subs):
                try:
                    cb(ch)
                except Exception:
                    self.log.exception("presence.subscriber_failed")
        if changes:
            for fut in list(self._waiters):
                if not fut.done():
                    fut.set_result(None)

    # ---- AMI glue

    def attach(self, client: AmiClient) -> None:
        """Follow `client`: live events, resync on every connect, stale on disconnect."""
        from hotline.pbx.ami import ContactStatus, DeviceStateChange

        self._unsubscribe += [
            client.subscribe(DeviceStateChange, lambda e: self.on_device_state(e.device, e.state)),
            client.subscribe(
                ContactStatus,
                lambda e: self.on_contact_status(e.endpoint, e.aor, e.uri, e.contact_status),
            ),
            client.on_connected(self.resync),
            client.on_disconnected(lambda _c: self.on_disconnected()),
        ]

    def detach(self) -> None:
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe.clear()

    async def resync(self, client: AmiClient) -> None:
        """Resync after (re)connect; if it keeps failing, force a reconnect (with backoff).

        Presence stays stale (everyone unavailable) until a resync succeeds.
        """
        from hotline.pbx.ami import AmiError

        attempts = self.resync_attempts
        for attempt in range(1, attempts + 1):
            try:
                await self._resync_once(client)
                return
            except AmiError as exc:
                self.log.warning("presence.resync_failed", attempt=attempt, error=str(exc))
                if not client.connected:
                    return  # the reconnect will resync again
                if attempt < attempts:
                    await asyncio.sleep(self.resync_retry_delay)
        self.log.error(
            "presence.resync_gave_up",
            attempts=attempts,
            hint="check the AMI user's permissions (write: reporting for DeviceStateList)",
        )
        client.reconnect("presence resync failed")

    async def _resync_once(self, client: AmiClient) -> None:
        """Rebuild presence from list actions; live events seen meanwhile are replayed on top."""
        from hotline.pbx.ami import DeviceStateChange, parse_event

        self._resyncing = True
        self._replay = []
        try:
            # DeviceStateList only: PJSIPShowEndpoints and PJSIPShowContacts need the AMI
            # `system` write class, which the service's user does not have (it would make the
            # secret a shell: hotline.pbx.asterisk.AMI_WRITE). A PJSIP endpoint's device state
            # already folds in its contacts (UNAVAILABLE with none reachable), and live
            # ContactStatus events still refine it; contacts stay unknown until one arrives.
            states: dict[str, str] = {}
            for msg in await client.action_list(
                {"Action": "DeviceStateList"}, "DeviceStateListComplete", self.list_timeout
            ):
                ev = parse_event(msg)
                if isinstance(ev, DeviceStateChange):
                    ext = extension_of_device(ev.device)
                    if ext is not None:
                        states[ext] = ev.state
            contacts: dict[str, dict[str, str]] | None = None
        except BaseException:  # failed or cancelled: stop buffering, stay stale
            self._resyncing = False
            self._replay = []
            raise
        replay, self._replay = self._replay, []
        self._resyncing = False
        changes_before = self.book.snapshot()
        self.book.load(states, contacts)
        for kind, args in replay:
            if kind == "device":
                self.book.set_device_state(args[0], args[1])
            else:
                self.book.set_contact_status(args[0], args[1], args[2])
        after = self.book.snapshot()
        self.resyncs += 1
        self.log.info(
            "presence.resynced",
            operators=len(self.book.extensions),
            available=sum(1 for p in after.values() if p is Presence.AVAILABLE),
            replayed=len(replay),
        )
        self._emit(
            [
                PresenceChange(e, changes_before[e], after[e])
                for e in self.book.extensions
                if changes_before[e] != after[e]
            ]
        )
