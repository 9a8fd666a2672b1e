"""Typed AMI events (`DeviceStateChange`, `Hangup`, ...) and `parse_event` (pure).

Each event class declares its fields with `ami("Header", reader)`; `parse_event` picks the class
by the `Event` header (case-insensitive) and keeps every field Asterisk sent in `raw`.
Responses and events without a class give None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hotline.pbx.ami.wire import Message

__all__ = [
    "AgentCalled",
    "AgentComplete",
    "AgentConnect",
    "AgentRingNoAnswer",
    "ami",
    "BridgeEnter",
    "BridgeLeave",
    "ChannelEvent",
    "ContactList",
    "ContactStatus",
    "DeviceStateChange",
    "DialBegin",
    "DialEnd",
    "DTMFBegin",
    "DTMFEnd",
    "EndpointList",
    "Event",
    "EVENT_TYPES",
    "FullyBooted",
    "Hangup",
    "Newchannel",
    "Newstate",
    "OriginateResponse",
    "parse_event",
    "PeerStatus",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "Shutdown",
    "UserEvent",
]


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
