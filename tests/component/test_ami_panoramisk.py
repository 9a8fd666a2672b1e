"""panoramisk's AMI `Manager` and our `AmiClient` against the same loopback fake AMI.

The evidence behind docs/decisions/0001-ami-and-fastagi-transport.md. Each test drives
panoramisk (the version installed, see `test_panoramisk_version_under_test`) with some input and
asserts what it was observed to do, then drives `AmiClient` with the same input and asserts that
it handles it. The first group shows what panoramisk gets right; the second what it gets wrong.
If a panoramisk release fixes one of these, its test fails here: re-read the decision then.
"""

# ruff: noqa: F811  (fixtures imported from fake_ami are used as test parameters)

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import panoramisk
import pytest
import structlog
from fake_ami import FakeAmi, encode, fake_ami  # noqa: F401 (fixture)

from callrouting.model import Directory, Operator, Presence, Role
from callrouting.presence import PresenceTracker
from hotline.pbx.ami import (
    AmiActionError,
    AmiClient,
    AmiConnectionError,
    Backoff,
    DeviceStateChange,
    UserEvent,
)

pytestmark = pytest.mark.component


def test_panoramisk_version_under_test() -> None:
    # the decision record names this version; a different one means re-running the evaluation
    assert version("panoramisk") == "1.4"


# ---- harness


@dataclass
class Pano:
    """One panoramisk Manager plus what its callbacks saw."""

    manager: panoramisk.Manager
    logged_in: asyncio.Event = field(default_factory=asyncio.Event)
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    logins: int = 0

    async def connect(self) -> None:
        self.logged_in.clear()
        await self.manager.connect()
        await asyncio.wait_for(self.logged_in.wait(), 5)

    async def send(self, fields: dict[str, Any], timeout: float = 5.0, **kw: Any) -> Any:  # noqa: ASYNC109
        return await asyncio.wait_for(self.manager.send_action(dict(fields), **kw), timeout)


@pytest.fixture
async def pano() -> AsyncIterator[Callable[..., Pano]]:
    made: list[Pano] = []

    def make(ami: FakeAmi, **config: Any) -> Pano:
        p: Pano

        def on_login(_m: panoramisk.Manager) -> None:
            p.logins += 1
            p.logged_in.set()

        settings: dict[str, Any] = dict(
            loop=asyncio.get_running_loop(),
            host=ami.host,
            port=ami.port,
            username=ami.username,
            secret=ami.secret,
            ping_delay=3600,  # no keepalive unless a test asks for it
            reconnect_timeout=0,
            on_login=on_login,
            on_disconnect=lambda _m, _exc: p.lost.set(),
        )
        settings.update(config)
        p = Pano(panoramisk.Manager(**settings))
        made.append(p)
        return p

    yield make
    for p in made:
        p.manager.close()
    await asyncio.sleep(0.05)  # let the transports finish closing


@pytest.fixture
async def ours() -> AsyncIterator[Callable[..., AmiClient]]:
    made: list[AmiClient] = []

    def make(ami: FakeAmi, **kw: Any) -> AmiClient:
        kw.setdefault("backoff", Backoff(0.02, 0.1, rng=random.Random(1)))
        secret = kw.pop("secret", ami.secret)
        client = AmiClient(ami.host, ami.port, ami.username, secret, **kw)
        made.append(client)
        return client

    yield make
    for c in made:
        await c.stop()


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def started(client: AmiClient) -> AmiClient:
    await client.start()
    await client.wait_connected(5)
    return client


# ---- where panoramisk does the job


async def test_both_log_in_and_match_replies_by_action_id(fake_ami: FakeAmi, pano, ours) -> None:
    p = pano(fake_ami)
    await p.connect()
    assert p.manager.protocol.version == "10.0.0"
    pong, settings, bad = await asyncio.gather(
        p.send({"Action": "Ping"}),
        p.send({"Action": "CoreSettings"}),
        p.send({"Action": "NoSuchThing"}),
    )
    assert pong.success and pong["Ping"] == "Pong"
    assert settings["AsteriskVersion"] == "22.5.2"
    assert not bad.success and bad["Message"] == "Invalid/unknown command"

    c = await started(ours(fake_ami))
    assert c.ami_version == "10.0.0" and c.asterisk_version == "22.5.2"
    pong, bad = await asyncio.gather(
        c.action({"Action": "Ping"}), c.action({"Action": "NoSuchThing"})
    )
    assert pong.success and pong["Ping"] == "Pong"
    assert not bad.success and bad.message == "Invalid/unknown command"


async def test_both_collect_standard_event_lists_by_action_id(
    fake_ami: FakeAmi, pano, ours
) -> None:
    p = pano(fake_ami)
    seen_live: list[Any] = []
    p.manager.register_event("DeviceStateChange", lambda _m, e: seen_live.append(e))
    await p.connect()
    devices, endpoints = await asyncio.gather(
        p.send({"Action": "DeviceStateList"}), p.send({"Action": "PJSIPShowEndpoints"})
    )
    # the start response, the items, the ...Complete event
    assert [m.event or m.response for m in devices] == [
        "Success",
        "DeviceStateChange",
        "DeviceStateChange",
        "DeviceStateChange",
        "DeviceStateListComplete",
    ]
    assert [(m["Device"], m["State"]) for m in devices[1:-1]] == list(fake_ami.devices.items())
    assert {m.event for m in endpoints[1:-1]} == {"EndpointList"}
    assert seen_live == []  # list items are not taken for live events
    fake_ami.contacts.clear()
    empty = await p.send({"Action": "PJSIPShowContacts"})
    assert not empty.success and empty["Message"].strip() == "No Contacts found"

    c = await started(ours(fake_ami))
    live: list[DeviceStateChange] = []
    c.subscribe(DeviceStateChange, live.append)
    items, eps = await asyncio.gather(
        c.action_list({"Action": "DeviceStateList"}, "DeviceStateListComplete"),
        c.action_list({"Action": "PJSIPShowEndpoints"}, "EndpointListComplete"),
    )
    assert [(m["Device"], m["State"]) for m in items] == list(fake_ami.devices.items())
    assert {m.event for m in eps} == {"EndpointList"} and live == []
    with pytest.raises(AmiActionError, match="No Contacts found"):
        await c.action_list({"Action": "PJSIPShowContacts"}, "ContactListComplete")


async def test_both_reconnect_and_keep_their_subscriptions(fake_ami: FakeAmi, pano, ours) -> None:
    p = pano(fake_ami)
    got: list[str] = []
    p.manager.register_event("Hangup", lambda _m, e: got.append(e["Channel"]))
    await p.connect()
    c = await started(ours(fake_ami))
    ours_got: list[str] = []
    c.subscribe_raw(lambda m: ours_got.append(m["Channel"]) if m.event == "Hangup" else None)

    p.logged_in.clear()
    await fake_ami.drop_connections()
    await asyncio.wait_for(p.logged_in.wait(), 5)
    await fake_ami.wait_for(lambda: fake_ami.authenticated_clients == 2)
    await c.wait_connected(5)
    await fake_ami.push_event("Hangup", Channel="PJSIP/1001-00000002", Cause="16")
    await p.send({"Action": "Ping"})
    await c.action({"Action": "Ping"})  # both events arrived before the Ping replies
    assert p.logins == 2 and got == ["PJSIP/1001-00000002"]
    assert c.connections == 2 and ours_got == ["PJSIP/1001-00000002"]


async def test_events_sent_during_a_disconnect_are_lost_to_both_and_resync_recovers_them(
    fake_ami: FakeAmi, pano, ours
) -> None:
    """Asterisk does not replay events to a client that was away: panoramisk and AmiClient lose
    them alike. What brings the state back is a resync after login, which `PresenceTracker` does
    on our client's `on_connected` (panoramisk offers a plain `on_login` callback)."""
    p = pano(fake_ami, reconnect_timeout=1)
    pano_states: list[tuple[str, str]] = []
    p.manager.register_event(
        "DeviceStateChange", lambda _m, e: pano_states.append((e["Device"], e["State"]))
    )
    await p.connect()
    c = ours(fake_ami, backoff=Backoff(0.5, 0.5, jitter=0))
    ours_states: list[tuple[str, str]] = []
    c.subscribe(DeviceStateChange, lambda e: ours_states.append((e.device, e.state)))
    ops = {1: Operator(id=1, name="op1", extension="1001", role=Role.MANAGER, team_id=1)}
    tracker = PresenceTracker(Directory(operators=ops))
    tracker.attach(c)
    try:
        await started(c)
        assert tracker.get("1001") is Presence.AVAILABLE

        p.logged_in.clear()
        p.lost.clear()
        await fake_ami.drop_connections()
        await asyncio.wait_for(p.lost.wait(), 5)
        await until(lambda: not c.connected)
        assert fake_ami.authenticated_clients == 0
        await fake_ami.set_device_state("PJSIP/1001", "INUSE")  # sent to nobody
        await asyncio.wait_for(p.logged_in.wait(), 5)
        await tracker.wait_for("1001", Presence.IN_USE, timeout=5)
        await p.send({"Action": "Ping"})
        await c.action({"Action": "Ping"})
        assert p.logins == 2 and c.connections == 2
        assert ("PJSIP/1001", "INUSE") not in pano_states
        assert ("PJSIP/1001", "INUSE") not in ours_states  # lost to ours too...
        assert tracker.get("1001") is Presence.IN_USE  # ...but the resync found it
    finally:
        tracker.detach()


# ---- where panoramisk fails


async def test_panoramisk_never_completes_a_list_cut_by_a_disconnect(
    fake_ami: FakeAmi, pano, ours
) -> None:
    fake_ami.cut_lists_after = 1  # the connection drops after the first DeviceStateChange item
    p = pano(fake_ami)
    await p.connect()
    p.logged_in.clear()
    pending = p.manager.send_action({"Action": "DeviceStateList"})
    await asyncio.wait_for(p.logged_in.wait(), 5)  # it reconnected...
    pong = await p.send({"Action": "Ping"})
    await asyncio.sleep(0.5)
    assert pong.success and p.logins == 2
    assert not pending.done()  # ...but the list's future is neither resolved nor failed

    c = await started(ours(fake_ami))
    with pytest.raises(AmiConnectionError):
        await asyncio.wait_for(
            c.action_list({"Action": "DeviceStateList"}, "DeviceStateListComplete"), 2
        )


async def test_panoramisk_sends_an_unanswered_action_again_after_reconnect(
    fake_ami: FakeAmi, pano, ours
) -> None:
    originate = {
        "Action": "Originate",
        "Channel": "PJSIP/1001",
        "Context": "hotline",
        "Exten": "5551234",
        "Priority": "1",
        "Async": "true",
    }
    fake_ami.silent_actions.add("originate")  # Asterisk got it, the reply is lost with the link
    p = pano(fake_ami)
    await p.connect()
    pending = p.manager.send_action(dict(originate))
    await until(lambda: any(a["Action"] == "Originate" for a in fake_ami.actions))
    fake_ami.silent_actions.discard("originate")
    p.logged_in.clear()
    await fake_ami.drop_connections()
    await asyncio.wait_for(p.logged_in.wait(), 5)
    result = await asyncio.wait_for(pending, 5)
    sent = [a for a in fake_ami.actions if a["Action"] == "Originate"]
    # the same Originate (same ActionID) reached Asterisk twice: two calls for one request
    assert len(sent) == 2 and sent[0]["ActionID"] == sent[1]["ActionID"]
    assert [m.event or m.response for m in result] == ["Success", "OriginateResponse"]

    fake_ami.actions.clear()
    fake_ami.silent_actions.add("originate")
    c = await started(ours(fake_ami))
    call = asyncio.create_task(c.action(originate, timeout=5))
    await until(lambda: any(a["Action"] == "Originate" for a in fake_ami.actions))
    fake_ami.silent_actions.discard("originate")
    await fake_ami.drop_connections()
    with pytest.raises(AmiConnectionError):
        await call  # the caller learns the outcome is unknown...
    await until(lambda: c.connections == 2 and c.connected)
    await c.action({"Action": "Ping"})
    assert sum(a["Action"] == "Originate" for a in fake_ami.actions) == 1  # ...and it is sent once


async def test_panoramisk_takes_the_queueadd_reply_for_a_list_and_never_completes(
    fake_ami: FakeAmi, pano, ours
) -> None:
    """app_queue answers QueueAdd with one `Response: Success` / `Message: Added interface to
    queue`; panoramisk decides from that text that a list follows."""
    add = {"Action": "QueueAdd", "Queue": "pool", "Interface": "PJSIP/1001"}
    p = pano(fake_ami)
    await p.connect()
    pending = p.manager.send_action(dict(add))
    pong = await p.send({"Action": "Ping"})  # the reply to QueueAdd was received before this
    await asyncio.sleep(0.3)
    assert pong.success and not pending.done()

    c = await started(ours(fake_ami))
    reply = await c.action(add, timeout=2, check=True)
    assert reply.success and reply.message == "Added interface to queue"


async def test_panoramisk_as_list_never_completes_on_an_error_reply(
    fake_ami: FakeAmi, pano, ours
) -> None:
    """`as_list=True` is panoramisk's way to ask for a whole EventList; Asterisk answers an empty
    PJSIPShowContacts with `Response: Error` and no list."""
    fake_ami.contacts.clear()
    p = pano(fake_ami)
    await p.connect()
    pending = p.manager.send_action({"Action": "PJSIPShowContacts"}, as_list=True)
    pong = await p.send({"Action": "Ping"})
    await asyncio.sleep(0.3)
    assert pong.success and not pending.done()

    c = await started(ours(fake_ami))
    with pytest.raises(AmiActionError) as err:
        await asyncio.wait_for(c.action_list({"Action": "PJSIPShowContacts"}), 2)
    assert err.value.message == "No Contacts found"


async def test_panoramisk_drops_the_connection_on_a_sync_originate_reply(
    fake_ami: FakeAmi, pano, ours, caplog: pytest.LogCaptureFixture
) -> None:
    """Without an `Async` header, the reply text "Originate successfully queued" makes
    panoramisk look the header up, which raises KeyError inside data_received; asyncio then
    closes the transport."""
    originate = {"Action": "Originate", "Channel": "PJSIP/1001", "Context": "c", "Exten": "1"}
    p = pano(fake_ami)
    await p.connect()
    p.lost.clear()
    with caplog.at_level(logging.ERROR):
        pending = p.manager.send_action(dict(originate))
        await asyncio.wait_for(p.lost.wait(), 5)
    assert any("data_received() call failed" in r.getMessage() for r in caplog.records)
    assert any(
        isinstance(r.exc_info and r.exc_info[1], KeyError) for r in caplog.records
    )
    await asyncio.sleep(0.2)
    assert not pending.done()

    c = await started(ours(fake_ami))
    reply = await c.action(originate, timeout=2)
    assert reply.success and c.connected and c.connections == 1


async def test_panoramisk_loses_a_utf8_character_split_between_two_reads(
    fake_ami: FakeAmi, pano, ours
) -> None:
    data = encode([("Event", "UserEvent"), ("UserEvent", "Callback"), ("CallerIDName", "Иванова")])
    cut = data.index("Иванова".encode()) + 1  # inside the two bytes of "И"
    p = pano(fake_ami)
    got: list[Any] = []
    p.manager.register_event("UserEvent", lambda _m, e: got.append(e))
    await p.connect()
    c = await started(ours(fake_ami))
    ours_got: list[UserEvent] = []
    c.subscribe(UserEvent, ours_got.append)

    await fake_ami.push_bytes(data[:cut], data[cut:])
    await p.send({"Action": "Ping"})
    await c.action({"Action": "Ping"})
    assert [e["CallerIDName"] for e in got] == ["ванова"]  # "И" is gone, silently
    assert [e.raw["CallerIDName"] for e in ours_got] == ["Иванова"]


async def test_panoramisk_keepalive_does_not_notice_a_server_that_stopped_answering(
    fake_ami: FakeAmi, pano, ours
) -> None:
    p = pano(fake_ami, ping_delay=1, ping_interval=1)  # whole seconds: it int()s them
    await p.connect()
    fake_ami.silent_actions.add("ping")  # TCP alive, AMI silent
    await asyncio.sleep(3.3)
    pings = sum(a["Action"] == "Ping" for a in fake_ami.actions)
    assert pings >= 3 and fake_ami.connections_seen == 1
    assert p.manager._connected and not p.lost.is_set()  # still "connected", nothing logged
    p.manager.close()

    c = await started(ours(fake_ami, ping_interval=0.05, ping_timeout=0.1))
    first = fake_ami.connections_seen
    await fake_ami.wait_for(lambda: fake_ami.connections_seen > first, timeout=5)
    fake_ami.silent_actions.discard("ping")
    await c.wait_connected(5)
    assert c.connections >= 2


async def test_panoramisk_close_while_waiting_to_reconnect_does_not_stop_it(
    fake_ami: FakeAmi, pano, ours
) -> None:
    p = pano(fake_ami, reconnect_timeout=1)
    await p.connect()
    p.lost.clear()
    await fake_ami.drop_connections()
    await asyncio.wait_for(p.lost.wait(), 5)
    logins = fake_ami.logins_ok
    p.manager.close()  # the reconnect is already scheduled and close() does not cancel it
    await fake_ami.wait_for(lambda: fake_ami.logins_ok > logins, timeout=3)
    assert fake_ami.authenticated_clients == 1  # logged in again after close()
    p.manager.close()
    await fake_ami.wait_for(lambda: fake_ami.authenticated_clients == 0)

    c = ours(fake_ami, backoff=Backoff(0.3, 0.3, jitter=0))
    await started(c)
    await fake_ami.drop_connections()
    await until(lambda: not c.connected)
    logins = fake_ami.logins_ok
    await c.stop()  # during the backoff sleep
    await asyncio.sleep(0.6)
    assert fake_ami.logins_ok == logins and fake_ami.authenticated_clients == 0


async def test_panoramisk_wrong_secret_is_logged_only_as_repeated_connection_lost(
    fake_ami: FakeAmi, pano, ours, caplog: pytest.LogCaptureFixture
) -> None:
    p = pano(fake_ami, secret="wrong-secret-123")
    with caplog.at_level(logging.DEBUG, logger="panoramisk"):
        await p.manager.connect()
        await fake_ami.wait_for(lambda: fake_ami.logins_failed >= 4)
        p.manager.close()
    loud = [r for r in caplog.records if r.name.startswith("panoramisk") and r.levelno >= logging.WARNING]
    assert len(loud) >= 3 and {r.getMessage() for r in loud} == {"Connection lost"}
    assert not any("Authentication" in r.getMessage() for r in loud)  # only in DEBUG dumps
    assert p.logins == 0

    failed = fake_ami.logins_failed
    c = ours(fake_ami, secret="wrong-secret-123")
    with structlog.testing.capture_logs() as logs:
        await c.start()
        await fake_ami.wait_for(lambda: fake_ami.logins_failed >= failed + 4)
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [(e["event"], e["reason"]) for e in errors] == [
        ("ami.login_failed", "Authentication failed")
    ]


async def test_panoramisk_sends_header_lines_injected_through_a_value(
    fake_ami: FakeAmi, pano, ours
) -> None:
    evil = "x\r\n\r\nAction: Originate\r\nChannel: PJSIP/evil"
    p = pano(fake_ami)
    await p.connect()
    n = len(fake_ami.actions)
    await p.send({"Action": "Ping", "X": evil})
    await until(lambda: len(fake_ami.actions) >= n + 2)
    assert [(a["Action"], a.get("Channel")) for a in fake_ami.actions[n:]] == [
        ("Ping", None),
        ("Originate", "PJSIP/evil"),
    ]

    c = await started(ours(fake_ami))
    n = len(fake_ami.actions)
    with pytest.raises(ValueError, match="CR/LF"):
        await c.action({"Action": "Ping", "X": evil})
    await c.action({"Action": "Ping"})
    assert [a["Action"] for a in fake_ami.actions[n:]] == ["Ping"]


async def test_panoramisk_does_not_own_the_tasks_of_async_callbacks(
    fake_ami: FakeAmi, pano, ours
) -> None:
    started_cb = asyncio.Event()

    async def slow(*_args: Any) -> None:
        started_cb.set()
        await asyncio.sleep(30)

    p = pano(fake_ami)
    p.manager.register_event("Hangup", slow)
    await p.connect()
    await fake_ami.push_event("Hangup", Channel="PJSIP/1-1")
    await asyncio.wait_for(started_cb.wait(), 5)
    p.manager.close()
    await asyncio.sleep(0.1)
    left = [t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__name__", "") == "slow"]
    assert len(left) == 1 and not left[0].done()  # still running after close()
    left[0].cancel()
    await asyncio.gather(*left, return_exceptions=True)

    started_cb.clear()
    c = await started(ours(fake_ami))
    c.subscribe_raw(lambda m: slow() if m.event == "Hangup" else None)
    await fake_ami.push_event("Hangup", Channel="PJSIP/1-1")
    await asyncio.wait_for(started_cb.wait(), 5)
    await c.stop()
    assert not [t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__name__", "") == "slow"]

