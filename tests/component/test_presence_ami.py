"""PresenceTracker fed by a real AmiClient talking to the loopback fake AMI."""

# ruff: noqa: F811  (fixtures imported from fake_ami are used as test parameters)

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
import structlog
from fake_ami import FakeAmi, FakeContact, fake_ami, no_leaked_tasks  # noqa: F401 (fixtures)

from callrouting.model import Directory, Operator, Presence, Role
from callrouting.presence import PresenceChange, PresenceTracker
from hotline.pbx.ami import AmiClient, Backoff

pytestmark = pytest.mark.component

A, R, U, X = Presence.AVAILABLE, Presence.RINGING, Presence.IN_USE, Presence.UNAVAILABLE


def directory() -> Directory:
    ops = {
        i: Operator(id=i, name=f"op{i}", extension=ext, role=Role.MANAGER, team_id=1)
        for i, ext in enumerate(["1001", "1002", "1003", "1004"], start=1)
    }
    return Directory(operators=ops)


@pytest.fixture
async def wired(
    no_leaked_tasks, fake_ami: FakeAmi
) -> AsyncIterator[tuple[AmiClient, PresenceTracker]]:
    client = AmiClient(
        fake_ami.host,
        fake_ami.port,
        fake_ami.username,
        fake_ami.secret,
        backoff=Backoff(0.02, 0.1, rng=random.Random(2)),
    )
    tracker = PresenceTracker(directory())
    tracker.attach(client)
    try:
        yield client, tracker
    finally:
        await client.stop()
        tracker.detach()


async def test_initial_resync_sets_presence(wired, fake_ami: FakeAmi) -> None:
    client, tracker = wired
    assert tracker.stale and set(tracker.snapshot().values()) == {X}
    with structlog.testing.capture_logs() as logs:
        await client.start()
        await client.wait_connected(5)  # on_connected (the resync) has finished by now
    assert not tracker.stale
    # 1003 is UNAVAILABLE in Asterisk; 1004 is in the directory but not a PJSIP endpoint
    assert tracker.snapshot() == {"1001": A, "1002": U, "1003": X, "1004": X}
    assert any(e["event"] == "presence.resynced" for e in logs)
    # only what the service's AMI user may do (write=reporting: hotline.pbx.asterisk.AMI_WRITE)
    sent = [a["Action"] for a in fake_ami.actions]
    assert sent == ["Login", "CoreSettings", "DeviceStateList"], sent


async def test_device_state_events_drive_transitions(wired, fake_ami: FakeAmi) -> None:
    client, tracker = wired
    changes: list[PresenceChange] = []
    tracker.subscribe(changes.append)
    await client.start()
    await client.wait_connected(5)
    changes.clear()
    for state, expected in [
        ("RINGING", R),
        ("INUSE", U),
        ("ONHOLD", U),
        ("NOT_INUSE", A),
        ("UNAVAILABLE", X),
        ("NOT_INUSE", A),
    ]:
        await fake_ami.set_device_state("PJSIP/1001", state)
        await tracker.wait_for("1001", expected, timeout=2)
    assert [(c.old, c.new) for c in changes] == [(A, R), (R, U), (U, A), (A, X), (X, A)]
    await fake_ami.push_event("DeviceStateChange", Device="PJSIP/7777", State="INUSE")
    await fake_ami.push_event("DeviceStateChange", Device="Queue:pool_avail", State="INUSE")
    await client.action({"Action": "Ping"})
    assert "7777" not in tracker.snapshot() and len(changes) == 5


async def test_contact_status_events(wired, fake_ami: FakeAmi) -> None:
    client, tracker = wired
    await client.start()
    await client.wait_connected(5)
    # the softphone unregisters: Asterisk sends ContactStatus Removed (then device UNAVAILABLE)
    await fake_ami.set_contact("1001", "sip:1001@127.0.0.1:5061", "Removed")
    await tracker.wait_for("1001", X, timeout=2)
    # it registers again; qualify has not run yet
    await fake_ami.set_contact("1001", "sip:1001@127.0.0.1:5071", "Created")
    await tracker.wait_for("1001", A, timeout=2)
    await fake_ami.set_contact("1001", "sip:1001@127.0.0.1:5071", "Unreachable")
    await tracker.wait_for("1001", X, timeout=2)
    await fake_ami.set_contact("1001", "sip:1001@127.0.0.1:5071", "Reachable")
    await tracker.wait_for("1001", A, timeout=2)


async def test_disconnect_marks_stale_then_reconnect_resyncs(wired, fake_ami: FakeAmi) -> None:
    client, tracker = wired
    changes: list[PresenceChange] = []
    await client.start()
    await client.wait_connected(5)
    assert tracker.get("1001") is A
    tracker.subscribe(changes.append)

    fake_ami.hooks["login"] = lambda: asyncio.sleep(0.2)  # keep the outage visible for a moment
    await fake_ami.drop_connections()
    await tracker.wait_for("1001", X, timeout=2)
    assert tracker.stale and set(tracker.snapshot().values()) == {X}
    # things change while we are blind: no events reach us
    fake_ami.devices["PJSIP/1001"] = "INUSE"
    fake_ami.devices["PJSIP/1002"] = "NOT_INUSE"
    fake_ami.devices["PJSIP/1003"] = "NOT_INUSE"
    fake_ami.contacts[0].status = "Reachable"
    fake_ami.contacts.append(FakeContact("1003", "sip:1003@127.0.0.1:5063"))

    await tracker.wait_for("1003", A, timeout=5)
    assert not tracker.stale and client.connections == 2
    assert tracker.snapshot() == {"1001": U, "1002": A, "1003": A, "1004": X}
    assert {(c.extension, c.new) for c in changes} >= {("1001", X), ("1001", U), ("1003", A)}


async def test_events_during_resync_are_not_lost(wired, fake_ami: FakeAmi) -> None:
    client, tracker = wired

    async def ring_during_device_list() -> None:
        # the list Asterisk is about to send was taken before: it still says NOT_INUSE; the
        # event that 1001 starts ringing overtakes it while the resync is under way
        await fake_ami.push_event("DeviceStateChange", Device="PJSIP/1001", State="RINGING")

    fake_ami.hooks["devicestatelist"] = ring_during_device_list
    await client.start()
    await client.wait_connected(5)
    assert tracker.get("1001") is R


async def test_stale_until_first_connect_and_wait_for_timeout(wired, fake_ami: FakeAmi) -> None:
    client, tracker = wired
    fake_ami.secret = "rotated-secret"  # login will fail
    await client.start()
    await fake_ami.wait_for(lambda: fake_ami.logins_failed >= 2)
    assert tracker.stale and tracker.snapshot()["1001"] is X
    with pytest.raises(TimeoutError):
        await tracker.wait_for("1001", A, timeout=0.1)


async def test_resync_without_any_registered_phone_means_nobody_available(
    wired, fake_ami: FakeAmi
) -> None:
    """Asterisk gives a PJSIP endpoint without a contact the device state UNAVAILABLE; devices
    it never saw are not listed at all: both are unavailable."""
    client, tracker = wired
    fake_ami.contacts.clear()
    fake_ami.devices.clear()
    fake_ami.devices["PJSIP/1002"] = "UNAVAILABLE"
    await client.start()
    await client.wait_connected(5)
    assert tracker.snapshot() == {"1001": X, "1002": X, "1003": X, "1004": X}
    await fake_ami.set_contact("1002", "sip:1002@127.0.0.1:5062", "Created")
    await fake_ami.set_device_state("PJSIP/1002", "NOT_INUSE")
    await tracker.wait_for("1002", A, timeout=2)


async def test_failed_resync_retries_then_forces_reconnect(wired, fake_ami: FakeAmi) -> None:
    client, tracker = wired
    tracker.list_timeout, tracker.resync_attempts, tracker.resync_retry_delay = 0.1, 2, 0.01
    fake_ami.silent_actions.add("devicestatelist")  # Asterisk never finishes the list
    with structlog.testing.capture_logs() as logs:
        await client.start()
        await fake_ami.wait_for(lambda: fake_ami.connections_seen >= 2, timeout=5)
        assert tracker.stale
        fake_ami.silent_actions.clear()
        await tracker.wait_for("1001", A, timeout=5)
    assert not tracker.stale
    events = [e["event"] for e in logs]
    assert events.count("presence.resync_failed") >= 2
    assert "presence.resync_gave_up" in events and "ami.reconnect_requested" in events
