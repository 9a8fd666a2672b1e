"""A protocol-level fake of Asterisk's AMI on loopback, for component tests.

Speaks the wire format Asterisk 22 uses (banner, `Key: value` lines, blank line between
messages, EventList responses with ActionID on every item and a `...Complete` event), keeps a
small model of device states and PJSIP contacts, and lets a test push events and drop
connections. Login failure behaves like Asterisk: `Response: Error` then the socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import pytest

EOL = "\r\n"


def encode(fields: Iterable[tuple[str, str]] | Mapping[str, str]) -> bytes:
    items = fields.items() if isinstance(fields, Mapping) else fields
    return ("".join(f"{k}: {v}{EOL}" for k, v in items) + EOL).encode()


@dataclass
class FakeContact:
    aor: str
    uri: str
    status: str = "Reachable"  # ContactList status: Reachable/Unreachable/Unknown/NonQualified
    endpoint: str = ""

    @property
    def object_name(self) -> str:
        return f"{self.aor};@{abs(hash(self.uri)):x}"


@dataclass(eq=False)
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    authenticated: bool = False


@dataclass
class FakeAmi:
    username: str = "hotline"
    secret: str = "s3cret-for-tests"
    version: str = "22.5.2"
    ami_version: str = "10.0.0"
    # device -> state, e.g. {"PJSIP/1001": "NOT_INUSE"}
    devices: dict[str, str] = field(default_factory=dict)
    # endpoint -> human device state for PJSIPShowEndpoints ("Not in use"); derived if absent
    endpoints: list[str] = field(default_factory=list)
    contacts: list[FakeContact] = field(default_factory=list)
    # actions the fake must never answer (to test timeouts), by lower-case name
    silent_actions: set[str] = field(default_factory=set)
    # lower-case action name -> async hook run before the fake answers it (e.g. push an event)
    hooks: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    # close the connection after this many DeviceStateList items (a drop in mid-list)
    cut_lists_after: int | None = None

    host: str = "127.0.0.1"
    port: int = 0
    actions: list[dict[str, str]] = field(default_factory=list)
    logins_ok: int = 0
    logins_failed: int = 0
    connections_seen: int = 0
    _server: asyncio.base_events.Server | None = None
    _conns: set[_Conn] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _changed: asyncio.Condition | None = None

    # ---- lifecycle

    async def start(self) -> FakeAmi:
        self._changed = asyncio.Condition()
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def drop_connections(self) -> None:
        """Close every client socket at once (like an Asterisk restart or a network cut)."""
        for c in list(self._conns):
            c.writer.close()
        for c in list(self._conns):
            with contextlib.suppress(Exception):
                await c.writer.wait_closed()
        self._conns.clear()

    async def wait_for(self, predicate, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        assert self._changed is not None
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # ---- test controls

    @property
    def authenticated_clients(self) -> int:
        return sum(1 for c in self._conns if c.authenticated)

    async def push_event(self, name: str, **fields: str) -> None:
        """Send an event to every logged-in client (`Event: name` + fields)."""
        data = encode([("Event", name), ("Privilege", "call,all"), *fields.items()])
        for c in list(self._conns):
            if c.authenticated and not c.writer.is_closing():
                c.writer.write(data)
                with contextlib.suppress(ConnectionError):
                    await c.writer.drain()

    async def push_bytes(self, *chunks: bytes, pause: float = 0.05) -> None:
        """Send raw bytes to every logged-in client, one TCP write per chunk with a pause between
        (so a message, or even one UTF-8 character, can arrive in two reads)."""
        for i, chunk in enumerate(chunks):
            if i:
                await asyncio.sleep(pause)
            for c in list(self._conns):
                if c.authenticated and not c.writer.is_closing():
                    c.writer.write(chunk)
                    with contextlib.suppress(ConnectionError):
                        await c.writer.drain()

    async def set_device_state(self, device: str, state: str, *, push: bool = True) -> None:
        self.devices[device] = state
        if push:
            await self.push_event("DeviceStateChange", Device=device, State=state)

    async def set_contact(
        self, aor: str, uri: str, status: str, *, endpoint: str | None = None, push: bool = True
    ) -> None:
        """Model a ContactStatus change (Created/Reachable/Unreachable/Removed/...)."""
        endpoint = aor if endpoint is None else endpoint
        existing = next((c for c in self.contacts if c.aor == aor and c.uri == uri), None)
        if status == "Removed":
            if existing:
                self.contacts.remove(existing)
        elif existing is None:
            list_status = "Unknown" if status in ("Created", "Updated") else status
            self.contacts.append(FakeContact(aor, uri, list_status, endpoint))
        elif status not in ("Created", "Updated"):
            existing.status = status
        if push:
            await self.push_event(
                "ContactStatus",
                URI=uri,
                ContactStatus=status,
                AOR=aor,
                EndpointName=endpoint,
                RoundtripUsec="1234",
            )

    # ---- protocol

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = _Conn(reader, writer)
        self._conns.add(conn)
        self.connections_seen += 1
        try:
            writer.write(f"Asterisk Call Manager/{self.ami_version}{EOL}".encode())
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                fields: dict[str, str] = {}
                for line in block.decode().split(EOL):
                    if ":" in line:
                        k, _, v = line.partition(":")
                        fields.setdefault(k.strip(), v.strip())
                norm = {k.lower(): v for k, v in fields.items()}
                self.actions.append(fields)
                keep = await self._handle(conn, norm)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._conns.discard(conn)
            writer.close()
            self._tasks.discard(task)
            await self._notify()

    async def _handle(self, conn: _Conn, a: dict[str, str]) -> bool:
        w = conn.writer
        action = a.get("action", "").lower()
        aid = a.get("actionid", "")
        idf = [("ActionID", aid)] if aid else []

        def respond(response: str, *extra: tuple[str, str]) -> None:
            w.write(encode([("Response", response), *idf, *extra]))

        if action in self.silent_actions:
            return True
        if conn.authenticated and action in self.hooks:
            await self.hooks[action]()
        if action == "login":
            if a.get("username") == self.username and a.get("secret") == self.secret:
                conn.authenticated = True
                self.logins_ok += 1
                respond("Success", ("Message", "Authentication accepted"))
                w.write(
                    encode(
                        [
                            ("Event", "FullyBooted"),
                            ("Privilege", "system,all"),
                            ("Uptime", "12"),
                            ("LastReload", "12"),
                            ("Status", "Fully Booted"),
                        ]
                    )
                )
                await self._notify()
                return True
            self.logins_failed += 1
            respond("Error", ("Message", "Authentication failed"))
            await self._notify()
            return False
        if not conn.authenticated:
            respond("Error", ("Message", "Permission denied"))
            return True
        if action == "logoff":
            respond("Goodbye", ("Message", "Thanks for all the fish."))
            return False
        if action == "ping":
            respond("Success", ("Ping", "Pong"), ("Timestamp", "1700000000.000000"))
        elif action == "coresettings":
            respond(
                "Success",
                ("AMIversion", self.ami_version),
                ("AsteriskVersion", self.version),
                ("SystemName", ""),
                ("CoreMaxCalls", "0"),
            )
        elif action == "devicestatelist":
            respond(
                "Success", ("EventList", "start"), ("Message", "Device State Changes will follow")
            )
            for n, (dev, state) in enumerate(self.devices.items()):
                if n == self.cut_lists_after:
                    await w.drain()
                    return False  # the connection drops in mid-list
                w.write(
                    encode(
                        [("Event", "DeviceStateChange"), *idf, ("Device", dev), ("State", state)]
                    )
                )
            self._complete(w, "DeviceStateListComplete", idf, len(self.devices))
        elif action == "pjsipshowcontacts":
            if not self.contacts:
                # Asterisk really answers an empty list this way (note the newline).
                respond("Error", ("Message", "No Contacts found\n"))
                return True
            respond(
                "Success",
                ("EventList", "start"),
                ("Message", "A listing of Contacts follows, presented as ContactList events"),
            )
            for c in self.contacts:
                w.write(
                    encode(
                        [
                            ("Event", "ContactList"),
                            *idf,
                            ("ObjectType", "contact"),
                            ("ObjectName", c.object_name),
                            ("ViaAddr", "127.0.0.1"),
                            ("Endpoint", c.endpoint or c.aor),
                            ("Uri", c.uri),
                            ("UserAgent", "fake"),
                            ("Status", c.status),
                            ("RoundtripUsec", "1000"),
                        ]
                    )
                )
            self._complete(w, "ContactListComplete", idf, len(self.contacts))
        elif action == "pjsipshowendpoints":
            if not self.endpoints:
                respond("Error", ("Message", "No endpoints found\n"))
                return True
            respond(
                "Success", ("EventList", "start"), ("Message", "A listing of Endpoints follows")
            )
            for ep in self.endpoints:
                w.write(
                    encode(
                        [
                            ("Event", "EndpointList"),
                            *idf,
                            ("ObjectType", "endpoint"),
                            ("ObjectName", ep),
                            ("Transport", ""),
                            ("Aor", ep),
                            ("Auths", ep),
                            ("OutboundAuths", ""),
                            ("Contacts", ""),
                            ("DeviceState", _human(self.devices.get(f"PJSIP/{ep}", "UNKNOWN"))),
                            ("ActiveChannels", ""),
                        ]
                    )
                )
            self._complete(w, "EndpointListComplete", idf, len(self.endpoints))
        elif action == "originate":
            respond("Success", ("Message", "Originate successfully queued"))
            w.write(
                encode(
                    [
                        ("Event", "OriginateResponse"),
                        ("Privilege", "call,all"),
                        *idf,
                        ("Response", "Success"),
                        ("Channel", a.get("channel", "")),
                        ("Context", a.get("context", "")),
                        ("Exten", a.get("exten", "")),
                        ("Reason", "4"),
                        ("Uniqueid", "1700000000.1"),
                    ]
                )
            )
        elif action == "redirect":
            respond("Success", ("Message", "Redirect successful"))
        elif action == "queueadd":
            # app_queue's reply: one response, no list follows (QueueMemberAdded is broadcast)
            respond("Success", ("Message", "Added interface to queue"))
        else:
            respond("Error", ("Message", "Invalid/unknown command"))
        return True

    @staticmethod
    def _complete(w: asyncio.StreamWriter, name: str, idf: list[tuple[str, str]], n: int) -> None:
        w.write(encode([("Event", name), *idf, ("EventList", "Complete"), ("ListItems", str(n))]))


_HUMAN = {
    "UNKNOWN": "Unknown",
    "NOT_INUSE": "Not in use",
    "INUSE": "In use",
    "BUSY": "Busy",
    "INVALID": "Invalid",
    "UNAVAILABLE": "Unavailable",
    "RINGING": "Ringing",
    "RINGINUSE": "Ring+Inuse",
    "ONHOLD": "On Hold",
}


def _human(state: str) -> str:
    return _HUMAN.get(state, "Unknown")


# ---- fixtures shared by the AMI / presence component tests (import them into the test module)


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail the test if it leaves asyncio tasks running."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before if not t.done()]
    leaked = [t for t in leaked if t is not asyncio.current_task()]
    assert not leaked, f"tasks left running: {[t.get_name() for t in leaked]}"


@pytest.fixture
async def fake_ami() -> AsyncIterator[FakeAmi]:
    ami = FakeAmi(
        devices={"PJSIP/1001": "NOT_INUSE", "PJSIP/1002": "INUSE", "PJSIP/1003": "UNAVAILABLE"},
        endpoints=["1001", "1002", "1003"],
        contacts=[
            FakeContact("1001", "sip:1001@127.0.0.1:5061", "Reachable"),
            FakeContact("1002", "sip:1002@127.0.0.1:5062", "Reachable"),
        ],
    )
    await ami.start()
    try:
        yield ami
    finally:
        await ami.stop()
