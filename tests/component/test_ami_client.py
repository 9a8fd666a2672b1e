"""AmiClient against the loopback fake AMI: login, errors, reconnect, actions, EventLists."""

# ruff: noqa: F811  (fixtures imported from fake_ami are used as test parameters)

from __future__ import annotations

import asyncio
import random

import pytest
import structlog
from fake_ami import FakeAmi, fake_ami, no_leaked_tasks  # noqa: F401 (fixtures)

from hotline.pbx.ami import (
    AmiActionError,
    AmiClient,
    AmiConnectionError,
    AmiTimeout,
    Backoff,
    DeviceStateChange,
    Event,
    FullyBooted,
    Hangup,
    OriginateResponse,
    UserEvent,
)

pytestmark = pytest.mark.component


def make_client(ami: FakeAmi, secret: str | None = None, **kw) -> AmiClient:
    return AmiClient(
        ami.host,
        ami.port,
        ami.username,
        ami.secret if secret is None else secret,
        logger=structlog.get_logger("test.ami"),
        backoff=Backoff(0.02, 0.1, rng=random.Random(1)),
        **kw,
    )


async def test_login_reads_version_and_connects(no_leaked_tasks, fake_ami: FakeAmi) -> None:
    client = make_client(fake_ami)
    await client.start()
    assert not client.connected  # start() returns before the connection is up
    await client.wait_connected(timeout=5)
    assert client.connected
    assert client.asterisk_version == "22.5.2"
    assert client.ami_version == "10.0.0"
    assert client.last_error is None
    pong = await client.action({"Action": "Ping"})
    assert pong.success and pong["ping"] == "Pong"
    await client.stop()
    assert not client.connected and not client.running
    assert fake_ami.actions[-1]["Action"] == "Logoff"


async def test_wrong_secret_logs_one_clear_error_and_keeps_retrying(
    no_leaked_tasks, fake_ami: FakeAmi
) -> None:
    client = make_client(fake_ami, secret="wrong-secret-123")
    with structlog.testing.capture_logs() as logs:
        await client.start()
        await fake_ami.wait_for(lambda: fake_ami.logins_failed >= 4)
        assert client.running and not client.connected
        assert client.last_error == "Authentication failed"
        errors = [e for e in logs if e["log_level"] == "error"]
        assert len(errors) == 1, errors
        assert errors[0]["event"] == "ami.login_failed"
        assert errors[0]["reason"] == "Authentication failed"
        assert "ami_secret" in errors[0]["hint"]
        # the admin fixes the secret: the next retry logs in
        client._secret = fake_ami.secret
        await client.wait_connected(timeout=5)
        assert client.last_error is None
    await client.stop()


async def test_connection_refused_retries_without_crash(no_leaked_tasks) -> None:
    ami = await FakeAmi().start()
    port = ami.port
    await ami.stop()  # nothing listens on `port` any more
    client = AmiClient(
        "127.0.0.1", port, "hotline", "x", backoff=Backoff(0.02, 0.05), connect_timeout=1
    )
    with structlog.testing.capture_logs() as logs:
        await client.start()
        await asyncio.sleep(0.3)
        assert client.running and not client.connected
        assert client.last_error and "Connect" in client.last_error
        failures = [e for e in logs if e["event"] == "ami.connect_failed"]
        assert len(failures) > 2
        assert [e["log_level"] for e in failures if e["log_level"] != "debug"] == ["error"]
    await client.stop()


async def test_reconnects_after_drop_and_runs_on_connected_again(
    no_leaked_tasks, fake_ami: FakeAmi
) -> None:
    client = make_client(fake_ami)
    seen: list[str] = []
    ups = asyncio.Queue[int]()

    async def on_up(c: AmiClient) -> None:
        seen.append("up")
        await c.action({"Action": "Ping"})  # actions work inside the callback
        ups.put_nowait(c.connections)

    client.on_connected(on_up)
    client.on_disconnected(lambda c: seen.append("down"))
    await client.start()
    assert await asyncio.wait_for(ups.get(), 5) == 1
    await fake_ami.drop_connections()
    assert await asyncio.wait_for(ups.get(), 5) == 2
    assert seen == ["up", "down", "up"]
    assert client.connected
    await client.stop()


async def test_pending_action_fails_fast_on_disconnect(no_leaked_tasks, fake_ami: FakeAmi) -> None:
    fake_ami.silent_actions.add("status")
    client = make_client(fake_ami)
    await client.start()
    await client.wait_connected(5)
    pending = asyncio.create_task(client.action({"Action": "Status"}, timeout=5))
    await asyncio.sleep(0.05)
    await fake_ami.drop_connections()
    with pytest.raises(AmiConnectionError):
        await pending
    await client.stop()


async def test_action_timeout_and_error(no_leaked_tasks, fake_ami: FakeAmi) -> None:
    fake_ami.silent_actions.add("status")
    client = make_client(fake_ami)
    await client.start()
    await client.wait_connected(5)
    with pytest.raises(AmiTimeout):
        await client.action({"Action": "Status"}, timeout=0.1)
    bad = await client.action({"Action": "NoSuchThing"})
    assert not bad.success and bad.message == "Invalid/unknown command"
    with pytest.raises(AmiActionError, match="unknown command"):
        await client.action({"Action": "NoSuchThing"}, check=True)
    assert client.connected  # a timeout does not break the session
    await client.stop()


async def test_action_refuses_header_injection(no_leaked_tasks, fake_ami: FakeAmi) -> None:
    client = make_client(fake_ami)
    await client.start()
    await client.wait_connected(5)
    n = len(fake_ami.actions)
    with pytest.raises(ValueError, match="CR/LF"):
        await client.action({"Action": "Ping", "X": "a\r\nAction: Originate"})
    assert len(fake_ami.actions) == n
    await client.stop()


async def test_action_without_connection_raises(no_leaked_tasks) -> None:
    client = AmiClient("127.0.0.1", 1, "u", "s")
    with pytest.raises(AmiConnectionError):
        await client.action({"Action": "Ping"})


async def test_event_list_collects_by_action_id(no_leaked_tasks, fake_ami: FakeAmi) -> None:
    client = make_client(fake_ami)
    live: list[DeviceStateChange] = []
    client.subscribe(DeviceStateChange, live.append)
    await client.start()
    await client.wait_connected(5)
    items = await client.action_list({"Action": "DeviceStateList"}, "DeviceStateListComplete")
    assert [(m["Device"], m["State"]) for m in items] == list(fake_ami.devices.items())
    # list items are not mistaken for live events
    assert live == []
    # default completion: any event of ours with EventList: Complete
    contacts = await client.action_list({"Action": "PJSIPShowContacts"})
    assert [m["Event"] for m in contacts] == ["ContactList", "ContactList"]
    # two lists at once do not mix
    a, b = await asyncio.gather(
        client.action_list({"Action": "DeviceStateList"}, "DeviceStateListComplete"),
        client.action_list({"Action": "PJSIPShowEndpoints"}, "EndpointListComplete"),
    )
    assert {m.event for m in a} == {"DeviceStateChange"}
    assert {m.event for m in b} == {"EndpointList"}
    await client.stop()


async def test_event_list_error_and_timeout(no_leaked_tasks, fake_ami: FakeAmi) -> None:
    fake_ami.contacts.clear()
    fake_ami.silent_actions.add("coreshowchannels")
    client = make_client(fake_ami)
    await client.start()
    await client.wait_connected(5)
    with pytest.raises(AmiActionError) as err:
        await client.action_list({"Action": "PJSIPShowContacts"}, "ContactListComplete")
    assert err.value.message == "No Contacts found"
    with pytest.raises(AmiTimeout):
        await client.action_list({"Action": "CoreShowChannels"}, timeout=0.1)
    await client.stop()


async def test_typed_events_reach_subscribers(no_leaked_tasks, fake_ami: FakeAmi) -> None:
    client = make_client(fake_ami)
    got: list[Event] = []
    hangups: list[Hangup] = []
    raw: list[str] = []
    done = asyncio.Event()

    async def on_user_event(e: UserEvent) -> None:
        await asyncio.sleep(0)
        got.append(e)
        done.set()

    client.subscribe(Event, got.append)
    client.subscribe(Hangup, hangups.append)
    client.subscribe(UserEvent, on_user_event)
    unsub = client.subscribe_raw(lambda m: raw.append(m.event or ""))
    await client.start()
    await client.wait_connected(5)
    await fake_ami.push_event(
        "Hangup",
        Channel="PJSIP/1001-00000001",
        Uniqueid="1.1",
        Cause="16",
        **{"Cause-txt": "Normal Clearing"},
    )
    await fake_ami.push_event("VarSet", Channel="PJSIP/1001-00000001", Variable="X", Value="1")
    await fake_ami.push_event("UserEvent", UserEvent="HotlineRated", Rating="5")
    await asyncio.wait_for(done.wait(), 5)
    unsub()
    assert isinstance(got[0], FullyBooted)
    assert hangups and hangups[0].cause == 16 and hangups[0].cause_txt == "Normal Clearing"
    assert "VarSet" in raw  # untyped events still reach raw subscribers
    user = [e for e in got if isinstance(e, UserEvent)]
    assert user[-1].user_event == "HotlineRated" and user[-1].fields["Rating"] == "5"
    await client.stop()


async def test_failing_callback_does_not_break_dispatch(no_leaked_tasks, fake_ami: FakeAmi) -> None:
    client = make_client(fake_ami)
    ok: list[Hangup] = []

    def boom(_e: Hangup) -> None:
        raise RuntimeError("bug in a subscriber")

    client.subscribe(Hangup, boom)
    client.subscribe(Hangup, ok.append)
    await client.start()
    await client.wait_connected(5)
    await fake_ami.push_event("Hangup", Channel="PJSIP/1-1", Cause="16")
    await client.action({"Action": "Ping"})  # the event arrived before the Ping reply
    assert len(ok) == 1 and client.connected
    await client.stop()


async def test_originate_and_redirect_validate_and_send(no_leaked_tasks, fake_ami: FakeAmi) -> None:
    client = make_client(fake_ami)
    await client.start()
    await client.wait_connected(5)
    resp = await client.originate(
        "PJSIP/1001",
        context="hotline-callback",
        exten="5551234",
        caller_id_name="VIP Ivanova - ticket check",
        caller_id_num="+15550001",
        variables={"HOTLINE_CALL": "abc-123"},
    )
    sent = fake_ami.actions[-1]
    assert sent["Action"] == "Originate" and sent["Channel"] == "PJSIP/1001"
    assert sent["CallerID"] == '"VIP Ivanova - ticket check" <+15550001>'
    assert sent["Variable"] == "HOTLINE_CALL=abc-123" and sent["Async"] == "true"
    assert resp.success
    result = await client.originate("PJSIP/1002", context="hotline", exten="s", wait=True)
    assert isinstance(result, OriginateResponse) and result.reason == 4
    r = await client.redirect("PJSIP/1001-0000000a", "hotline", "rate", 1)
    assert r.success and fake_ami.actions[-1]["Exten"] == "rate"

    n = len(fake_ami.actions)
    for bad in (
        dict(channel="PJSIP/1001\r\nAction: Hangup", context="c", exten="1"),
        dict(channel="PJSIP/1001&PJSIP/1002", context="c", exten="1"),
        dict(channel="PJSIP/1001", context="c,2", exten="1"),
        dict(channel="PJSIP/1001", context="c", exten="1;2"),
        dict(channel="PJSIP/1001", context="c", exten="1", caller_id_name='x" <1>'),
        dict(channel="PJSIP/1001", context="c", exten="1", variables={"A": "x,B=y"}),
        dict(channel="PJSIP/1001", context="c", exten="1", variables={"A=B": "x"}),
    ):
        with pytest.raises(ValueError):
            await client.originate(**bad)
    with pytest.raises(ValueError):
        await client.redirect("PJSIP/1001", "hotline", "${EVIL}")
    assert len(fake_ami.actions) == n  # nothing unsafe was sent
    await client.stop()


async def test_stop_is_clean_while_retrying_and_idempotent(
    no_leaked_tasks, fake_ami: FakeAmi
) -> None:
    client = make_client(fake_ami, secret="nope")
    await client.start()
    await fake_ami.wait_for(lambda: fake_ami.logins_failed >= 1)
    await client.stop()
    await client.stop()
    assert not client.running


async def test_ping_keepalive_detects_dead_server(no_leaked_tasks, fake_ami: FakeAmi) -> None:
    client = make_client(fake_ami, ping_interval=0.05, ping_timeout=0.1)
    await client.start()
    await client.wait_connected(5)
    first = fake_ami.connections_seen
    fake_ami.silent_actions.add("ping")  # server alive on TCP but not answering
    await fake_ami.wait_for(lambda: fake_ami.connections_seen > first, timeout=5)
    fake_ami.silent_actions.discard("ping")
    await client.wait_connected(5)
    assert client.connections >= 2
    await client.stop()


async def test_server_closing_during_login_is_a_connect_failure(no_leaked_tasks) -> None:
    """A peer that accepts and closes at once (e.g. manager.conf `permit` denies us)."""

    async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/10.0.0\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(slam, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, "u", "s", backoff=Backoff(0.02, 0.05), login_timeout=5)
    with structlog.testing.capture_logs() as logs:
        await client.start()
        await asyncio.sleep(0.2)
    await client.stop()
    server.close()
    await server.wait_closed()
    failures = [e for e in logs if e["event"] == "ami.connect_failed"]
    assert len(failures) >= 3  # retried quickly, not stuck in the 5 s login timeout
    assert "connection lost" in failures[0]["reason"]


async def test_not_an_ami_server(no_leaked_tasks) -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, "u", "s", backoff=Backoff(0.02, 0.05))
    await client.start()
    await asyncio.sleep(0.1)
    assert client.last_error and "not an AMI server" in client.last_error
    await client.stop()
    server.close()
    await server.wait_closed()
