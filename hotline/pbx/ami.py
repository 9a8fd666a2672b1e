"""One long-lived Asterisk Manager Interface (AMI) connection.

A small asyncio implementation of the AMI wire protocol rather than a wrapper around panoramisk's
`Manager`: we need replies and EventLists matched strictly by ActionID (never by text), every
background task owned and cancelled by `stop()`, one clear log line per distinct failure, and
reconnect-with-backoff followed by a resync hook. Those are exactly panoramisk's weak spots, and
the protocol itself is ~100 lines ("Key: value" lines, a blank line ends a message).

Layers:
- `Message`, `encode_action`, `parse_message`: bytes <-> messages (pure).
- typed events (`DeviceStateChange`, `Hangup`, ...) and `parse_event` (pure).
- `AmiClient`: connection, login, actions, subscriptions, reconnect.
- `validate_*` helpers used by `originate`/`redirect` so caller-supplied data never reaches
  Asterisk unchecked.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import itertools
import random
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import structlog

__all__ = [
    "AmiActionError",
    "AmiClient",
    "AmiConnectionError",
    "AmiError",
    "AmiTimeout",
    "Backoff",
    "Event",
    "Message",
    "encode_action",
    "parse_event",
    "parse_message",
]

EOL = "\r\n"
BANNER_PREFIX = "Asterisk Call Manager/"


# --------------------------------------------------------------------------------------------
# errors


class AmiError(Exception):
    """Base class for AMI failures."""


class AmiConnectionError(AmiError):
    """Not connected, or the connection dropped while an action was pending."""


class AmiTimeout(AmiError, TimeoutError):
    """Asterisk did not answer (or did not finish an EventList) in time."""


class AmiActionError(AmiError):
    """Asterisk answered `Response: Error`."""

    def __init__(self, action: str, message: str, response: Message | None = None) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message
        self.response = response


# --------------------------------------------------------------------------------------------
# wire format


class Message(Mapping[str, str]):
    """One AMI message (response or event): ordered `Key: value` fields, case-insensitive keys.

    Repeated keys (`Output`, `ChanVariable`, `Variable`) are kept: `msg["Output"]` is the first,
    `msg.get_all("Output")` all of them.
    """

    __slots__ = ("_fields", "_index")

    def __init__(self, fields: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        items = fields.items() if isinstance(fields, Mapping) else fields
        self._fields: tuple[tuple[str, str], ...] = tuple((str(k), str(v)) for k, v in items)
        index: dict[str, str] = {}
        for k, v in self._fields:
            index.setdefault(k.lower(), v)
        self._index = index

    def __getitem__(self, key: str) -> str:
        return self._index[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for k, _ in self._fields:
            if k.lower() not in seen:
                seen.add(k.lower())
                yield k

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        shown = " ".join(f"{k}={'***' if k.lower() == 'secret' else v!r}" for k, v in self._fields)
        return f"<Message {shown}>"

    def get_all(self, key: str) -> list[str]:
        lk = key.lower()
        return [v for k, v in self._fields if k.lower() == lk]

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        return self._fields

    @property
    def event(self) -> str | None:
        return self._index.get("event")

    @property
    def response(self) -> str | None:
        return self._index.get("response")

    @property
    def action_id(self) -> str | None:
        return self._index.get("actionid")

    @property
    def message(self) -> str:
        return self._index.get("message", "")

    @property
    def success(self) -> bool:
        return (self.response or "").lower() in ("success", "follows", "goodbye")


_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
_CTRL_RE = re.compile(r"[\x00-\x1f\x7f]")


def encode_action(fields: Mapping[str, Any]) -> bytes:
    """Encode an action. Values may be str/int/float/bool or a list (repeated header).

    Raises ValueError on a bad key or a value with CR/LF/control characters: that is how a
    header would be injected, so it is never sent.
    """
    if not any(k.lower() == "action" for k in fields):
        raise ValueError("AMI action needs an 'Action' field")
    lines: list[str] = []
    for key, value in fields.items():
        if not _KEY_RE.match(key):
            raise ValueError(f"invalid AMI header name {key!r}")
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, bool):
                text = "true" if v else "false"
            else:
                text = str(v)
            if _CTRL_RE.search(text):
                raise ValueError(f"control character (CR/LF?) in AMI field {key}")
            lines.append(f"{key}: {text}")
    return (EOL.join(lines) + EOL + EOL).encode("utf-8")


def parse_message(block: str) -> Message:
    """Parse one message block (without the terminating blank line)."""
    fields: list[tuple[str, str]] = []
    for line in block.split(EOL):
        line = line.strip("\r\n")
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            fields.append(("__body__", line))
            continue
        fields.append((key.strip(), value.strip()))
    return Message(fields)


# --------------------------------------------------------------------------------------------
# typed events


class _CI:
    """Case-insensitive view of a message/dict, used by parse_event."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._d = {str(k).lower(): str(v) for k, v in raw.items()}

    def s(self, key: str, default: str = "") -> str:
        return self._d.get(key.lower(), default)

    def i(self, key: str, default: int = 0) -> int:
        try:
            return int(self._d.get(key.lower(), ""))
        except ValueError:
            return default

    def items(self) -> Iterable[tuple[str, str]]:
        return self._d.items()


def _text(d: _CI, key: str) -> str:
    return d.s(key)


def _number(d: _CI, key: str) -> int:
    return d.i(key)


def _upper(d: _CI, key: str) -> str:
    return d.s(key).upper()


def _flag(d: _CI, key: str) -> bool:
    return d.s(key).lower() == "true"


def _before_hash(d: _CI, key: str) -> str:
    return d.s(key).partition(";@")[0]  # `<aor>;@<hash>` -> `<aor>`


def ami(key: str, read: Callable[[_CI, str], Any] = _text, default: Any = "") -> Any:
    """A typed event's field, read from the AMI header `key` (case-insensitive) by `read`."""
    return field(default=default, metadata={"ami": key, "read": read})


@dataclass(frozen=True)
class Event:
    """Base of typed AMI events. `raw` keeps every field Asterisk sent; the other fields are
    declared with `ami("Header", reader)` and filled by `_build`."""

    NAME: ClassVar[str] = ""
    raw: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def _build(cls, d: _CI, raw: Mapping[str, str]) -> Event:
        values = {f.name: f.metadata["read"](d, f.metadata["ami"])
                  for f in dataclasses.fields(cls) if "ami" in f.metadata}  # fmt: skip
        return cls(raw=raw, **values)


@dataclass(frozen=True)
class FullyBooted(Event):
    NAME: ClassVar[str] = "FullyBooted"
    status: str = ami("Status")
    uptime: int = ami("Uptime", _number, 0)


@dataclass(frozen=True)
class Shutdown(Event):
    NAME: ClassVar[str] = "Shutdown"
    shutdown: str = ami("Shutdown")
    restart: bool = ami("Restart", _flag, False)


@dataclass(frozen=True)
class DeviceStateChange(Event):
    """`Device: PJSIP/1001`, `State: NOT_INUSE` (also the items of a DeviceStateList)."""

    NAME: ClassVar[str] = "DeviceStateChange"
    device: str = ami("Device")
    state: str = ami("State", _upper)


@dataclass(frozen=True)
class ContactStatus(Event):
    """PJSIP contact change: Created/Updated/Removed/Reachable/Unreachable/Unknown/NonQualified."""

    NAME: ClassVar[str] = "ContactStatus"
    uri: str = ami("URI")
    contact_status: str = ami("ContactStatus")
    aor: str = ami("AOR")
    endpoint: str = ami("EndpointName")
    roundtrip_usec: int = ami("RoundtripUsec", _number, 0)


@dataclass(frozen=True)
class ContactList(Event):
    """One item of a PJSIPShowContacts list. `ObjectName` is `<aor>;@<hash>`."""

    NAME: ClassVar[str] = "ContactList"
    uri: str = ami("Uri")
    status: str = ami("Status")
    aor: str = ami("ObjectName", _before_hash)
    endpoint: str = ami("Endpoint")


@dataclass(frozen=True)
class EndpointList(Event):
    """One item of a PJSIPShowEndpoints list. `DeviceState` is human text, e.g. "Not in use"."""

    NAME: ClassVar[str] = "EndpointList"
    endpoint: str = ami("ObjectName")
    device_state: str = ami("DeviceState")
    aor: str = ami("Aor")
    contacts: str = ami("Contacts")
    active_channels: str = ami("ActiveChannels")


@dataclass(frozen=True)
class PeerStatus(Event):
    NAME: ClassVar[str] = "PeerStatus"
    channel_type: str = ami("ChannelType")
    peer: str = ami("Peer")
    peer_status: str = ami("PeerStatus")
    cause: str = ami("Cause")
    address: str = ami("Address")


@dataclass(frozen=True)
class ChannelEvent(Event):
    """Fields Asterisk sends for every channel snapshot (`Channel`, `Uniqueid`, ...)."""

    channel: str = ami("Channel")
    uniqueid: str = ami("Uniqueid")
    linkedid: str = ami("Linkedid")
    channel_state: str = ami("ChannelStateDesc")  # Down, Ring, Ringing, Up, Busy, ...
    caller_id_num: str = ami("CallerIDNum")
    caller_id_name: str = ami("CallerIDName")
    connected_line_num: str = ami("ConnectedLineNum")
    connected_line_name: str = ami("ConnectedLineName")
    context: str = ami("Context")
    exten: str = ami("Exten")


@dataclass(frozen=True)
class Newchannel(ChannelEvent):
    NAME: ClassVar[str] = "Newchannel"


@dataclass(frozen=True)
class Newstate(ChannelEvent):
    NAME: ClassVar[str] = "Newstate"


@dataclass(frozen=True)
class DialBegin(ChannelEvent):
    """`channel` is the caller side (may be empty for originated calls); dest_* the callee."""

    NAME: ClassVar[str] = "DialBegin"
    dest_channel: str = ami("DestChannel")
    dest_uniqueid: str = ami("DestUniqueid")
    dial_string: str = ami("DialString")


@dataclass(frozen=True)
class DialEnd(ChannelEvent):
    NAME: ClassVar[str] = "DialEnd"
    dest_channel: str = ami("DestChannel")
    dest_uniqueid: str = ami("DestUniqueid")
    dial_status: str = ami("DialStatus")  # ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, ...


@dataclass(frozen=True)
class BridgeEnter(ChannelEvent):
    NAME: ClassVar[str] = "BridgeEnter"
    bridge_uniqueid: str = ami("BridgeUniqueid")
    bridge_type: str = ami("BridgeType")
    bridge_num_channels: int = ami("BridgeNumChannels", _number, 0)


@dataclass(frozen=True)
class BridgeLeave(BridgeEnter):
    NAME: ClassVar[str] = "BridgeLeave"


@dataclass(frozen=True)
class Hangup(ChannelEvent):
    NAME: ClassVar[str] = "Hangup"
    cause: int = ami("Cause", _number, 0)
    cause_txt: str = ami("Cause-txt")


@dataclass(frozen=True)
class DTMFBegin(ChannelEvent):
    NAME: ClassVar[str] = "DTMFBegin"
    digit: str = ami("Digit")
    direction: str = ami("Direction")  # Received / Sent


@dataclass(frozen=True)
class DTMFEnd(ChannelEvent):
    NAME: ClassVar[str] = "DTMFEnd"
    digit: str = ami("Digit")
    direction: str = ami("Direction")
    duration_ms: int = ami("DurationMs", _number, 0)


@dataclass(frozen=True)
class QueueCallerJoin(ChannelEvent):
    NAME: ClassVar[str] = "QueueCallerJoin"
    queue: str = ami("Queue")
    position: int = ami("Position", _number, 0)
    count: int = ami("Count", _number, 0)


@dataclass(frozen=True)
class QueueCallerLeave(QueueCallerJoin):
    NAME: ClassVar[str] = "QueueCallerLeave"


@dataclass(frozen=True)
class AgentCalled(ChannelEvent):
    """Queue rings a member. `channel` is the caller, `dest_channel` the member's channel."""

    NAME: ClassVar[str] = "AgentCalled"
    queue: str = ami("Queue")
    interface: str = ami("Interface")
    member_name: str = ami("MemberName")
    dest_channel: str = ami("DestChannel")
    dest_uniqueid: str = ami("DestUniqueid")


@dataclass(frozen=True)
class AgentConnect(AgentCalled):
    NAME: ClassVar[str] = "AgentConnect"


@dataclass(frozen=True)
class AgentComplete(AgentCalled):
    NAME: ClassVar[str] = "AgentComplete"


@dataclass(frozen=True)
class AgentRingNoAnswer(AgentCalled):
    NAME: ClassVar[str] = "AgentRingNoAnswer"


@dataclass(frozen=True)
class UserEvent(ChannelEvent):
    """`UserEvent(name,key: value,...)` from the dialplan; extra fields in `fields`."""

    NAME: ClassVar[str] = "UserEvent"
    user_event: str = ami("UserEvent")
    fields: Mapping[str, str] = field(default_factory=dict)

    _STANDARD: ClassVar[frozenset[str]] = frozenset(
        k.lower()
        for k in (
            "Event Privilege Channel Uniqueid Linkedid ChannelState ChannelStateDesc CallerIDNum "
            "CallerIDName ConnectedLineNum ConnectedLineName Language AccountCode Context Exten "
            "Priority UserEvent SystemName"
        ).split()
    )

    @classmethod
    def _build(cls, d: _CI, raw: Mapping[str, str]) -> Event:
        event = super()._build(d, raw)
        extra = {k: v for k, v in raw.items() if k.lower() not in cls._STANDARD}
        return dataclasses.replace(event, fields=extra)


@dataclass(frozen=True)
class OriginateResponse(Event):
    NAME: ClassVar[str] = "OriginateResponse"
    action_id: str = ami("ActionID")
    response: str = ami("Response")  # Success / Failure
    channel: str = ami("Channel")
    reason: int = ami("Reason", _number, 0)  # 4 answered, 5 busy, 3 no answer, 8 congestion, 0 failed
    uniqueid: str = ami("Uniqueid")


EVENT_TYPES: dict[str, type[Event]] = {
    cls.NAME.lower(): cls
    for cls in (
        FullyBooted,
        Shutdown,
        DeviceStateChange,
        ContactStatus,
        ContactList,
        EndpointList,
        PeerStatus,
        Newchannel,
        Newstate,
        DialBegin,
        DialEnd,
        BridgeEnter,
        BridgeLeave,
        Hangup,
        DTMFBegin,
        DTMFEnd,
        QueueCallerJoin,
        QueueCallerLeave,
        AgentCalled,
        AgentConnect,
        AgentComplete,
        AgentRingNoAnswer,
        UserEvent,
        OriginateResponse,
    )
}


def parse_event(raw: Mapping[str, Any]) -> Event | None:
    """Typed event for an AMI event message/dict; None for responses and untyped events."""
    d = _CI(raw)
    name = d.s("Event")
    cls = EVENT_TYPES.get(name.lower())
    if cls is None:
        return None
    frozen_raw = raw if isinstance(raw, Message) else Message({k: str(v) for k, v in raw.items()})
    return cls._build(d, frozen_raw)


# --------------------------------------------------------------------------------------------
# validation of values that end up in dialplan / channel names


_CHANNEL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}/[A-Za-z0-9_.@+:/-]{1,200}(;[12])?\Z")
_EXTEN_RE = re.compile(r"^[A-Za-z0-9*#+_.-]{1,80}\Z")
_CONTEXT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,80}\Z")
_VARNAME_RE = re.compile(r"^_{0,2}[A-Za-z][A-Za-z0-9_]{0,63}\Z")
_CID_NUM_RE = re.compile(r"^\+?[0-9*#]{0,32}\Z")
_CID_NAME_BAD = re.compile(r'[\x00-\x1f\x7f"<>\\;,|$\[\]{}]')
_VALUE_BAD = re.compile(r"[\x00-\x1f\x7f,|$\[\]{}\\]")


def validate_channel(value: str) -> str:
    """A channel or dial string like `PJSIP/1001`, `PJSIP/1001-0000000a`, `Local/1001@ctx;1`."""
    if not isinstance(value, str) or not _CHANNEL_RE.match(value):
        raise ValueError(f"unsafe or invalid channel name {value!r}")
    return value


def validate_exten(value: str) -> str:
    if not isinstance(value, str) or not _EXTEN_RE.match(value):
        raise ValueError(f"unsafe or invalid extension {value!r}")
    return value


def validate_context(value: str) -> str:
    if not isinstance(value, str) or not _CONTEXT_RE.match(value):
        raise ValueError(f"unsafe or invalid context {value!r}")
    return value


def format_caller_id(name: str | None, number: str | None) -> str:
    """`"Name" <number>` with the name restricted to printable text without quoting chars."""
    name, number = name or "", number or ""
    if _CTRL_RE.search(name) or _CTRL_RE.search(number):
        raise ValueError("control character in caller id")
    name, number = name.strip(), number.strip()
    if len(name) > 80 or _CID_NAME_BAD.search(name):
        raise ValueError(f"unsafe caller id name {name!r}")
    if not _CID_NUM_RE.match(number):
        raise ValueError(f"unsafe caller id number {number!r}")
    if name and number:
        return f'"{name}" <{number}>'
    if name:
        return f'"{name}"'
    return number


def format_variables(variables: Mapping[str, str | int]) -> list[str]:
    out = []
    for k, v in variables.items():
        text = str(v)
        if not _VARNAME_RE.match(k):
            raise ValueError(f"unsafe channel variable name {k!r}")
        if len(text) > 256 or _VALUE_BAD.search(text):
            raise ValueError(f"unsafe value for channel variable {k}")
        out.append(f"{k}={text}")
    return out


# --------------------------------------------------------------------------------------------
# client


class Backoff:
    """Exponential backoff with full-ish jitter: initial, x2 each time, capped at maximum."""

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 10.0,
        factor: float = 2.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self.initial, self.maximum, self.factor, self.jitter = initial, maximum, factor, jitter
        self._rng = rng or random.Random()
        self._next = initial

    def reset(self) -> None:
        self._next = self.initial

    def next(self) -> float:
        base = self._next
        self._next = min(self.maximum, self._next * self.factor)
        spread = base * self.jitter
        return max(0.0, min(self.maximum, base + self._rng.uniform(-spread, spread)))


@dataclass
class _Pending:
    action: str
    response: asyncio.Future[Message]
    complete_event: str | None = None  # lower-case; None = single response
    done: asyncio.Future[Message] | None = None
    events: list[Message] = field(default_factory=list)


EventT = TypeVar("EventT", bound=Event)
Callback = Callable[..., Any]

_LOGIN_HINTS = {
    "authentication failed": "check asterisk.ami_user / asterisk.ami_secret against manager.conf",
}


class AmiClient:
    """Keeps one AMI session alive; see the module docstring.

    Callbacks (sync functions or coroutine functions) receive:
    - `subscribe(EventType, cb)`: the typed event; `subscribe(Event, cb)` gets every typed event.
    - `subscribe_raw(cb)`: every event `Message`, typed or not.
    - `on_connected(cb)`: the client, after login; awaited in order before the client is
      reported `connected` to `wait_connected()` waiters, so resyncs finish first.
    - `on_disconnected(cb)`: the client, when an established session ends.
    Each registration returns a function that removes it.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        logger: Any = None,
        connect_timeout: float = 5.0,
        login_timeout: float = 5.0,
        ping_interval: float = 20.0,
        ping_timeout: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self.log = logger if logger is not None else structlog.get_logger("hotline.pbx.ami")
        self.connect_timeout = connect_timeout
        self.login_timeout = login_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff = backoff or Backoff()

        self.connected = False
        self.asterisk_version: str | None = None
        self.ami_version: str | None = None
        self.last_error: str | None = None
        self.connections = 0  # successful logins so far

        self._runner: asyncio.Task[None] | None = None
        self._session_tasks: set[asyncio.Task[Any]] = set()
        self._callback_tasks: set[asyncio.Task[Any]] = set()
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._prefix = f"hotline-{uuid.uuid4().hex[:8]}-"
        self._subs: dict[type[Event], list[Callback]] = {}
        self._raw_subs: list[Callback] = []
        self._on_connected: list[Callback] = []
        self._on_disconnected: list[Callback] = []
        self._ready = asyncio.Event()
        self._last_reported: tuple[str, str] | None = None
        self._stopping = False
        self._drop_reason: str | None = None

    # ---- lifecycle

    async def start(self) -> None:
        """Start connecting in the background; returns at once."""
        if self._runner is not None and not self._runner.done():
            return
        self._runner = asyncio.create_task(self._run(), name="ami-client")

    async def stop(self) -> None:
        """Log off (best effort), cancel every task this client started, wait for them."""
        runner, self._runner = self._runner, None
        if runner is not None:
            self._stopping = True  # no reconnect after our own Logoff
            if self.connected:
                with contextlib.suppress(Exception):
                    await self.action({"Action": "Logoff"}, timeout=1.0)
            while not runner.done():  # re-cancel: a cancel racing a finishing await can be lost
                runner.cancel()
                await asyncio.wait({runner}, timeout=1.0)
            self._stopping = False
        await self._cancel_all(self._callback_tasks)

    async def wait_connected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until logged in and the on_connected callbacks have run."""
        async with asyncio.timeout(timeout):
            await self._ready.wait()

    def reconnect(self, reason: str) -> None:
        """Drop the current session (if any); the run loop reconnects with backoff and resyncs."""
        if self._writer is not None and not self._writer.is_closing():
            self._drop_reason = reason
            self.log.warning("ami.reconnect_requested", reason=reason)
            self._writer.close()

    @property
    def running(self) -> bool:
        return self._runner is not None and not self._runner.done()

    # ---- subscriptions

    def subscribe(
        self, event_type: type[EventT], callback: Callable[[EventT], Any]
    ) -> Callable[[], None]:
        self._subs.setdefault(event_type, []).append(callback)
        return lambda: _remove(self._subs.get(event_type, []), callback)

    def subscribe_raw(self, callback: Callable[[Message], Any]) -> Callable[[], None]:
        self._raw_subs.append(callback)
        return lambda: _remove(self._raw_subs, callback)

    def on_connected(self, callback: Callable[[AmiClient], Any]) -> Callable[[], None]:
        self._on_connected.append(callback)
        return lambda: _remove(self._on_connected, callback)

    def on_disconnected(self, callback: Callable[[AmiClient], Any]) -> Callable[[], None]:
        self._on_disconnected.append(callback)
        return lambda: _remove(self._on_disconnected, callback)

    # ---- actions

    async def action(
        self,
        fields: Mapping[str, Any],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        check: bool = False,
    ) -> Message:
        """Send an action and return its `Response` message (raises AmiActionError if `check`)."""
        response, _ = await self._request(fields, complete_event=None, timeout=timeout)
        if check and not response.success:
            raise AmiActionError(_action_name(fields), response.message, response)
        return response

    async def action_list(
        self,
        fields: Mapping[str, Any],
        complete_event: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[Message]:
        """Run an EventList action; return its item events (without the `...Complete` event).

        Items are matched by ActionID only. The list ends at `complete_event` or, if that is
        None, at any event of ours carrying `EventList: Complete`. `Response: Error` raises
        AmiActionError (Asterisk answers that way for empty lists, e.g. "No Contacts found").
        """
        _, events = await self._request(
            fields, complete_event=(complete_event or "*"), timeout=timeout
        )
        return events[:-1]

    async def core_settings(self) -> Message:
        return await self.action({"Action": "CoreSettings"}, check=True)

    async def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str | None = None,
        caller_id_name: str | None = None,
        caller_id_num: str | None = None,
        variables: Mapping[str, str | int] | None = None,
        ring_timeout: float = 30.0,
        wait: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Message | OriginateResponse:
        """Originate a call (always async on the Asterisk side).

        With `wait=False` returns Asterisk's immediate Response ("queued"); with `wait=True`
        waits for the OriginateResponse (answered or failed) and returns it typed.
        """
        fields: dict[str, Any] = {"Action": "Originate", "Channel": validate_channel(channel)}
        if application is not None:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", application):
                raise ValueError(f"invalid application {application!r}")
            fields["Application"] = application
            if data is not None:
                if _CTRL_RE.search(data) or len(data) > 256:
                    raise ValueError("unsafe application data")
                fields["Data"] = data
        else:
            if context is None or exten is None:
                raise ValueError("originate needs context+exten or application")
            fields["Context"] = validate_context(context)
            fields["Exten"] = validate_exten(exten)
            fields["Priority"] = int(priority)
        fields["Timeout"] = int(ring_timeout * 1000)
        if caller_id_name or caller_id_num:
            fields["CallerID"] = format_caller_id(caller_id_name, caller_id_num)
        if variables:
            fields["Variable"] = format_variables(variables)
        fields["Async"] = "true"
        if not wait:
            return await self.action(fields, timeout=timeout or 5.0, check=True)
        response, events = await self._request(
            fields, complete_event="originateresponse", timeout=timeout or ring_timeout + 10.0
        )
        result = parse_event(events[-1])
        assert isinstance(result, OriginateResponse)
        return result

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        *,
        extra_channel: str | None = None,
        extra_context: str | None = None,
        extra_exten: str | None = None,
        extra_priority: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        """Send a channel (and optionally its peer) to context/exten/priority."""
        fields: dict[str, Any] = {
            "Action": "Redirect",
            "Channel": validate_channel(channel),
            "Context": validate_context(context),
            "Exten": validate_exten(exten),
            "Priority": int(priority),
        }
        if extra_channel is not None:
            fields["ExtraChannel"] = validate_channel(extra_channel)
            fields["ExtraContext"] = validate_context(extra_context or context)
            fields["ExtraExten"] = validate_exten(extra_exten or exten)
            fields["ExtraPriority"] = int(
                extra_priority if extra_priority is not None else priority
            )
        return await self.action(fields, timeout=timeout, check=True)

    # ---- internals: requests

    def _next_action_id(self) -> str:
        return f"{self._prefix}{next(self._ids)}"

    async def _request(
        self,
        fields: Mapping[str, Any],
        *,
        complete_event: str | None,
        timeout: float,  # noqa: ASYNC109
    ) -> tuple[Message, list[Message]]:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise AmiConnectionError("AMI not connected")
        name = _action_name(fields)
        action_id = self._next_action_id()
        payload = {k: v for k, v in fields.items() if k.lower() != "actionid"}
        payload["ActionID"] = action_id
        data = encode_action(payload)  # ValueError before anything is registered
        loop = asyncio.get_running_loop()
        pending = _Pending(action=name, response=loop.create_future())
        if complete_event is not None:
            pending.complete_event = complete_event.lower()
            pending.done = loop.create_future()
        self._pending[action_id] = pending
        try:
            writer.write(data)
            async with asyncio.timeout(timeout):
                await writer.drain()
                response = await pending.response
                if pending.complete_event is not None and not response.success:
                    raise AmiActionError(name, response.message, response)
                if pending.done is not None:
                    await pending.done
            return response, pending.events
        except TimeoutError:
            what = (
                f"complete list ({len(pending.events)} items so far)"
                if pending.done
                else "response"
            )
            raise AmiTimeout(f"{name}: no {what} within {timeout:g}s") from None
        except (ConnectionError, OSError) as exc:
            raise AmiConnectionError(f"{name}: {exc}") from exc
        finally:
            self._pending.pop(action_id, None)

    # ---- internals: connection loop

    async def _run(self) -> None:
        try:
            while not self._stopping:
                established = False
                try:
                    established = await self._session()
                except asyncio.CancelledError:
                    raise
                except _LoginFailed as exc:
                    self._report("ami.login_failed", str(exc), hint=exc.hint)
                except (
                    OSError,
                    EOFError,
                    asyncio.IncompleteReadError,
                    TimeoutError,
                    AmiError,
                ) as exc:
                    self._report(
                        "ami.connect_failed",
                        _describe(exc),
                        hint="is Asterisk running? check asterisk.ami_host / asterisk.ami_port",
                    )
                except Exception as exc:  # a bug must not kill presence forever
                    self.log.exception("ami.session_crashed", error=_describe(exc))
                    self.last_error = _describe(exc)
                if established:
                    self.backoff.reset()
                delay = self.backoff.next()
                self.log.debug("ami.reconnect_in", seconds=round(delay, 2))
                await asyncio.sleep(delay)
        finally:
            await self._teardown()

    async def _session(self) -> bool:
        """One connection: connect, login, resync, serve until it drops. True if logged in."""
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation (gh-86296)
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        self._writer = writer
        self._drop_reason = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                banner = await reader.readline()
            text = banner.decode("utf-8", "replace").strip()
            if not text.startswith(BANNER_PREFIX):
                raise AmiConnectionError(f"not an AMI server (banner {text[:60]!r})")
            self.ami_version = text[len(BANNER_PREFIX) :]
            reader_task = self._spawn(self._read_loop(reader), "ami-reader")

            resp = await self.action(
                {"Action": "Login", "Username": self.username, "Secret": self._secret},
                timeout=self.login_timeout,
            )
            if not resp.success:
                reason = resp.message or "login refused"
                raise _LoginFailed(reason, _LOGIN_HINTS.get(reason.lower(), "check manager.conf"))
            self.connections += 1

            try:
                settings = await self.action({"Action": "CoreSettings"}, timeout=self.login_timeout)
                self.asterisk_version = settings.get("AsteriskVersion") or None
            except AmiError as exc:
                self.log.warning("ami.core_settings_failed", error=str(exc))

            self.connected = True
            self.last_error = None
            self._last_reported = None
            self.log.info(
                "ami.connected",
                host=self.host,
                port=self.port,
                asterisk_version=self.asterisk_version,
                ami_version=self.ami_version,
                connection=self.connections,
            )
            for cb in list(self._on_connected):
                await self._call(cb, self, where="on_connected")
            if not reader_task.done():
                self._ready.set()
                self._spawn(self._ping_loop(), "ami-ping")
            await asyncio.wait({reader_task})
            self.log.warning("ami.disconnected", reason=self.last_error or "connection closed")
            return True
        finally:
            was_connected = self.connected
            self.connected = False
            self._ready.clear()
            self._writer = None
            writer.close()
            await self._cancel_all(self._session_tasks)
            self._fail_pending(AmiConnectionError("AMI connection lost"))
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            if was_connected:
                for cb in list(self._on_disconnected):
                    await self._call(cb, self, where="on_disconnected")

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                msg = parse_message(block.decode("utf-8", "replace"))
                if msg.fields:
                    self._handle(msg)
        except asyncio.IncompleteReadError:
            self.last_error = self._drop_reason or "connection closed by Asterisk"
        except asyncio.LimitOverrunError:
            self.last_error = "AMI message too large"
        except OSError as exc:
            self.last_error = _describe(exc)
        # fail waiting actions now instead of letting them run into their timeouts
        self._fail_pending(AmiConnectionError(f"AMI connection lost: {self.last_error}"))

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self.action({"Action": "Ping"}, timeout=self.ping_timeout)
            except AmiError as exc:
                self._drop_reason = f"keepalive failed: {exc}"
                self.log.warning("ami.ping_failed", error=str(exc))
                if self._writer is not None:
                    self._writer.close()
                return

    def _handle(self, msg: Message) -> None:
        aid = msg.action_id
        pending = self._pending.get(aid) if aid else None
        if pending is not None:
            if msg.response is not None and not pending.response.done():
                pending.response.set_result(msg)
                if pending.done is not None and not msg.success and not pending.done.done():
                    pending.done.set_result(msg)
                return
            if msg.event is not None and pending.done is not None:
                pending.events.append(msg)
                ev = msg.event.lower()
                if ev == pending.complete_event or (
                    pending.complete_event == "*" and msg.get("EventList", "").lower() == "complete"
                ):
                    if not pending.response.done():
                        pending.response.set_result(Message({"Response": "Success"}))
                    if not pending.done.done():
                        pending.done.set_result(msg)
                return
        if msg.event is not None:
            self._dispatch(msg)

    def _dispatch(self, msg: Message) -> None:
        for cb in list(self._raw_subs):
            self._call_soon(cb, msg)
        event = parse_event(msg)
        if event is None:
            return
        for etype, cbs in list(self._subs.items()):
            if isinstance(event, etype):
                for cb in list(cbs):
                    self._call_soon(cb, event)

    def _call_soon(self, cb: Callback, arg: Any) -> None:
        """Sync callbacks run inline (in event order); coroutines become owned tasks."""
        try:
            result = cb(arg)
        except Exception:
            self.log.exception("ami.callback_failed", callback=_cb_name(cb))
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[Any]) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("ami.callback_failed", error=_describe(task.exception()))

    async def _call(self, cb: Callback, arg: Any, *, where: str) -> None:
        try:
            result = cb(arg)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.exception(f"ami.{where}_failed", callback=_cb_name(cb), error=_describe(exc))

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._session_tasks.add(task)
        task.add_done_callback(self._session_tasks.discard)
        return task

    def _fail_pending(self, exc: Exception) -> None:
        for p in list(self._pending.values()):
            for fut in (p.response, p.done):
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
                    fut.exception()  # mark retrieved if nobody awaits any more
        self._pending.clear()

    async def _cancel_all(self, tasks: set[asyncio.Task[Any]]) -> None:
        current = list(tasks)
        for t in current:
            t.cancel()
        if current:
            await asyncio.gather(*current, return_exceptions=True)
        tasks.difference_update(current)

    async def _teardown(self) -> None:
        self.connected = False
        self._ready.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        await self._cancel_all(self._session_tasks)
        self._fail_pending(AmiConnectionError("AMI client stopped"))

    def _report(self, event: str, reason: str, *, hint: str) -> None:
        """Log a failure once (error level); repeats of the same failure only at debug level."""
        self.last_error = reason
        key = (event, reason)
        if key != self._last_reported:
            self._last_reported = key
            self.log.error(event, reason=reason, hint=hint, host=self.host, port=self.port)
        else:
            self.log.debug(event, reason=reason, repeated=True)


class _LoginFailed(AmiError):
    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.hint = hint


def _action_name(fields: Mapping[str, Any]) -> str:
    for k, v in fields.items():
        if k.lower() == "action":
            return str(v)
    return "?"


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _cb_name(cb: Callback) -> str:
    return getattr(cb, "__qualname__", repr(cb))


def _remove(items: list[Any], item: Any) -> None:
    with contextlib.suppress(ValueError):
        items.remove(item)
