"""Typed AMI events built from messages/dicts by parse_event."""

from __future__ import annotations

import pytest

from hotline.pbx.ami.events import (
    AgentCalled,
    BridgeEnter,
    ContactList,
    ContactStatus,
    DeviceStateChange,
    DialBegin,
    DialEnd,
    DTMFEnd,
    EndpointList,
    FullyBooted,
    Hangup,
    Newchannel,
    Newstate,
    PeerStatus,
    QueueCallerJoin,
    UserEvent,
    parse_event,
)

pytestmark = pytest.mark.unit


CHAN = {
    "Channel": "PJSIP/1001-00000003",
    "ChannelState": "6",
    "ChannelStateDesc": "Up",
    "CallerIDNum": "+15550001",
    "CallerIDName": "Ivanova",
    "ConnectedLineNum": "1001",
    "ConnectedLineName": "Operator",
    "Context": "hotline",
    "Exten": "s",
    "Priority": "1",
    "Uniqueid": "1700000000.3",
    "Linkedid": "1700000000.1",
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {
                "Event": "FullyBooted",
                "Privilege": "system,all",
                "Uptime": "5",
                "Status": "Fully Booted",
            },
            FullyBooted(status="Fully Booted", uptime=5),
        ),
        (
            {"Event": "DeviceStateChange", "Device": "PJSIP/1001", "State": "not_inuse"},
            DeviceStateChange(device="PJSIP/1001", state="NOT_INUSE"),
        ),
        (
            {
                "Event": "ContactStatus",
                "URI": "sip:1001@127.0.0.1:5061",
                "ContactStatus": "Reachable",
                "AOR": "1001",
                "EndpointName": "1001",
                "RoundtripUsec": "1200",
            },
            ContactStatus(
                uri="sip:1001@127.0.0.1:5061",
                contact_status="Reachable",
                aor="1001",
                endpoint="1001",
                roundtrip_usec=1200,
            ),
        ),
        (
            {
                "Event": "ContactList",
                "ObjectType": "contact",
                "ObjectName": "1001;@a1b2c3",
                "Endpoint": "1001",
                "Uri": "sip:1001@h",
                "Status": "NonQualified",
            },
            ContactList(uri="sip:1001@h", status="NonQualified", aor="1001", endpoint="1001"),
        ),
        (
            {
                "Event": "EndpointList",
                "ObjectName": "1001",
                "DeviceState": "Not in use",
                "Aor": "1001",
            },
            EndpointList(endpoint="1001", device_state="Not in use", aor="1001"),
        ),
        (
            {
                "Event": "PeerStatus",
                "ChannelType": "PJSIP",
                "Peer": "PJSIP/1001",
                "PeerStatus": "Reachable",
            },
            PeerStatus(channel_type="PJSIP", peer="PJSIP/1001", peer_status="Reachable"),
        ),
    ],
)
def test_parse_event_presence_events(raw, expected) -> None:
    ev = parse_event(raw)
    assert ev == expected
    assert ev.raw["Event"] == raw["Event"]


def test_parse_event_channel_events() -> None:
    nc = parse_event({"Event": "Newchannel", **CHAN})
    assert isinstance(nc, Newchannel)
    assert (nc.channel, nc.uniqueid, nc.linkedid, nc.channel_state) == (
        "PJSIP/1001-00000003",
        "1700000000.3",
        "1700000000.1",
        "Up",
    )
    assert nc.caller_id_num == "+15550001" and nc.context == "hotline"
    assert isinstance(parse_event({"Event": "Newstate", **CHAN}), Newstate)

    dest = {"Dest" + k: v.replace("1001", "1002") for k, v in CHAN.items()}
    db = parse_event({"Event": "DialBegin", **CHAN, **dest, "DialString": "1002"})
    assert isinstance(db, DialBegin) and db.dest_channel == "PJSIP/1002-00000003"
    de = parse_event({"Event": "DialEnd", **CHAN, **dest, "DialStatus": "ANSWER"})
    assert isinstance(de, DialEnd) and de.dial_status == "ANSWER"
    be = parse_event(
        {
            "Event": "BridgeEnter",
            **CHAN,
            "BridgeUniqueid": "b-1",
            "BridgeType": "basic",
            "BridgeNumChannels": "2",
        }
    )
    assert isinstance(be, BridgeEnter) and be.bridge_num_channels == 2
    hu = parse_event({"Event": "Hangup", **CHAN, "Cause": "17", "Cause-txt": "User busy"})
    assert isinstance(hu, Hangup) and (hu.cause, hu.cause_txt) == (17, "User busy")
    dt = parse_event(
        {"Event": "DTMFEnd", **CHAN, "Digit": "5", "DurationMs": "120", "Direction": "Received"}
    )
    assert isinstance(dt, DTMFEnd) and (dt.digit, dt.duration_ms, dt.direction) == (
        "5",
        120,
        "Received",
    )
    qj = parse_event(
        {"Event": "QueueCallerJoin", **CHAN, "Queue": "pool", "Position": "1", "Count": "1"}
    )
    assert isinstance(qj, QueueCallerJoin) and qj.queue == "pool" and qj.position == 1
    ac = parse_event(
        {
            "Event": "AgentCalled",
            **CHAN,
            **dest,
            "Queue": "pool",
            "Interface": "PJSIP/1002",
            "MemberName": "Petrov",
        }
    )
    assert (
        isinstance(ac, AgentCalled) and ac.interface == "PJSIP/1002" and ac.member_name == "Petrov"
    )
    ue = parse_event({"Event": "UserEvent", **CHAN, "UserEvent": "Rated", "Rating": "4"})
    assert isinstance(ue, UserEvent) and ue.fields == {"Rating": "4"}


def test_parse_event_ignores_responses_and_unknown_events() -> None:
    assert parse_event({"Response": "Success"}) is None
    assert parse_event({"Event": "VarSet", "Variable": "X"}) is None
    assert parse_event({}) is None


def test_parse_event_tolerates_missing_and_bad_fields() -> None:
    hu = parse_event({"event": "hangup", "cause": "oops"})
    assert isinstance(hu, Hangup) and hu.cause == 0 and hu.channel == ""
