"""Pure presence core: device-state / contact mapping and PresenceBook transitions."""

from __future__ import annotations

import pytest

from callrouting.model import Presence
from callrouting.presence import (
    DEVICE_STATE_TEXT,
    PresenceBook,
    PresenceChange,
    extension_of_device,
    normalize_device_state,
    presence_for,
)

pytestmark = pytest.mark.unit

A, R, U, X = Presence.AVAILABLE, Presence.RINGING, Presence.IN_USE, Presence.UNAVAILABLE

# device state -> (no contact info, a reachable contact, only unreachable contacts, no contacts)
TABLE = {
    "NOT_INUSE": (A, A, X, X),
    "INUSE": (U, U, U, U),
    "BUSY": (U, U, U, U),
    "ONHOLD": (U, U, U, U),
    "RINGING": (R, R, R, R),
    "RINGINUSE": (U, U, U, U),
    "UNAVAILABLE": (X, X, X, X),
    "INVALID": (X, X, X, X),
    "UNKNOWN": (X, A, X, X),
    None: (X, A, X, X),
}
CONTACTS = (
    None,
    {"sip:a": "reachable", "sip:b": "unreachable"},
    {"sip:a": "unreachable"},
    {},
)


@pytest.mark.parametrize(
    ("state", "contacts", "expected"),
    [
        (state, contacts, row[i])
        for state, row in TABLE.items()
        for i, contacts in enumerate(CONTACTS)
    ],
)
def test_presence_for_every_device_state(state, contacts, expected) -> None:
    assert presence_for(state, contacts) is expected


@pytest.mark.parametrize("status", ["reachable", "unknown", "nonqualified", "created"])
def test_registered_contact_statuses_count_as_reachable(status) -> None:
    assert presence_for("NOT_INUSE", {"sip:a": status}) is A


@pytest.mark.parametrize(("text", "token"), list(DEVICE_STATE_TEXT.items()))
def test_endpoint_list_human_device_states_normalize(text, token) -> None:
    assert normalize_device_state(text.title()) == token
    assert normalize_device_state(token.lower()) == token


def test_unknown_device_state_text_is_unknown() -> None:
    assert normalize_device_state("Exploded") == "UNKNOWN"


@pytest.mark.parametrize(
    ("device", "ext"),
    [
        ("PJSIP/1001", "1001"),
        ("pjsip/1001", "1001"),
        ("SIP/1001", None),
        ("Queue:support", None),
        ("Custom:DND1001", None),
        ("PJSIP/", None),
        ("PJSIP/1001/sip:x", None),
    ],
)
def test_extension_of_device(device, ext) -> None:
    assert extension_of_device(device) == ext


def loaded_book() -> PresenceBook:
    book = PresenceBook(["1001", "1002"])
    book.load(
        {"PJSIP/1001": "NOT_INUSE", "PJSIP/1002": "NOT_INUSE", "PJSIP/9999": "INUSE"},
        {"1001": {"sip:1001@x": "Reachable"}, "1002": {"sip:1002@x": "Reachable"}},
    )
    return book


def test_book_is_stale_and_unavailable_until_loaded() -> None:
    book = PresenceBook(["1001"])
    assert book.stale and book.snapshot() == {"1001": X}
    assert book.set_device_state("PJSIP/1001", "NOT_INUSE") == []  # still stale
    changes = book.load({"PJSIP/1001": "NOT_INUSE"}, None)
    assert changes == [PresenceChange("1001", X, A)]
    assert not book.stale


def test_book_call_lifecycle_transitions() -> None:
    book = loaded_book()
    steps = [
        ("RINGING", [PresenceChange("1001", A, R)]),
        ("INUSE", [PresenceChange("1001", R, U)]),
        ("ONHOLD", []),
        ("NOT_INUSE", [PresenceChange("1001", U, A)]),
        ("NOT_INUSE", []),
    ]
    for state, expected in steps:
        assert book.set_device_state("PJSIP/1001", state) == expected
    assert book.get("1002") is A


def test_book_ignores_unknown_devices_and_extensions() -> None:
    book = loaded_book()
    assert book.set_device_state("PJSIP/9999", "RINGING") == []
    assert book.set_contact_status("9999", "sip:x", "Removed") == []
    assert book.get("9999") is X
    assert "9999" not in book.snapshot()


def test_book_contact_removed_then_registered_again() -> None:
    book = loaded_book()
    assert book.set_contact_status("1001", "sip:1001@x", "Removed") == [
        PresenceChange("1001", A, X)
    ]
    # Created (registered, not qualified yet) makes it reachable again
    assert book.set_contact_status("1001", "sip:1001@y", "Created") == [
        PresenceChange("1001", X, A)
    ]
    assert book.set_contact_status("1001", "sip:1001@y", "Unreachable") == [
        PresenceChange("1001", A, X)
    ]
    assert book.set_contact_status("1001", "sip:1001@y", "Updated") == []  # keeps "unreachable"
    assert book.set_contact_status("1001", "sip:1001@y", "Reachable") == [
        PresenceChange("1001", X, A)
    ]


def test_book_call_in_progress_beats_unreachable_contact() -> None:
    book = loaded_book()
    book.set_device_state("PJSIP/1001", "INUSE")
    assert book.set_contact_status("1001", "sip:1001@x", "Unreachable") == []
    assert book.get("1001") is U


def test_book_mark_stale_reports_everyone_unavailable_and_load_restores() -> None:
    book = loaded_book()
    book.set_device_state("PJSIP/1002", "INUSE")
    changes = book.mark_stale()
    assert {c.extension: (c.old, c.new) for c in changes} == {"1001": (A, X), "1002": (U, X)}
    assert book.snapshot() == {"1001": X, "1002": X}
    assert book.device_state("1002") == "INUSE"  # kept, but not reported while stale
    changes = book.load({"PJSIP/1001": "RINGING"}, {"1001": {"sip:1001@x": "Reachable"}})
    assert book.snapshot() == {"1001": R, "1002": X}
    assert {c.extension for c in changes} == {"1001"}


def test_book_load_without_contact_info_uses_device_state_only() -> None:
    book = PresenceBook(["1001", "1002"])
    book.load({"1001": "Not in use", "PJSIP/1002": "UNKNOWN"}, None)
    assert book.snapshot() == {"1001": A, "1002": X}
    assert book.contacts("1001") is None
