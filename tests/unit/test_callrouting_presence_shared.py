"""The pure part of cluster-wide presence: claims, leases, merging (callrouting.presence_shared)."""

from __future__ import annotations

import pytest

from callrouting.model import Presence
from callrouting.presence_shared import ClaimsBook, claim_diff, desired_claims, merge, stronger

A, R, U, X = Presence.AVAILABLE, Presence.RINGING, Presence.IN_USE, Presence.UNAVAILABLE


def test_a_node_claims_only_ringing_and_in_use() -> None:
    assert desired_claims({"1": A, "2": R, "3": U, "4": X}) == {"2": R, "3": U}


def test_claim_diff_sends_changes_and_drops() -> None:
    assert claim_diff({"1": R, "2": U}, {"1": U, "3": R}) == {"1": U, "3": R, "2": None}
    assert claim_diff({"1": R}, {"1": R}) == {}


@pytest.mark.parametrize(("local", "remote", "seen"), [
    (A, None, A), (A, R, R), (A, U, U), (R, U, U), (U, R, U), (X, U, U), (X, None, X), (R, None, R),
])
def test_busy_anywhere_is_busy_here(local: Presence, remote: Presence | None, seen: Presence) -> None:
    assert stronger(local, remote) is seen
    assert merge({"1001": local}, {"1001": remote} if remote else {}) == {"1001": seen}


def test_claims_count_while_the_lease_runs() -> None:
    book = ClaimsBook("n2")
    assert book.update("n1", {"1001": U}, ttl=4, now=10, full=True)
    assert book.remote(13.9) == {"1001": U}
    assert book.remote(14.0) == {}  # lapsed: the node stopped renewing (died)
    assert book.update("n1", {}, ttl=4, now=13)  # a heartbeat before the end renews it
    assert book.remote(16.5) == {"1001": U}


def test_a_change_from_a_node_not_known_asks_for_a_reload() -> None:
    book = ClaimsBook("n2")
    assert not book.update("n1", {"1002": R}, ttl=4, now=0)  # what else it claims is unknown
    assert book.remote(0) == {}
    book.load([("n1", "1001", U, 3.0), ("n1", "1002", R, 3.0)], now=0)
    assert book.update("n1", {"1001": None}, ttl=4, now=1)
    assert book.remote(1) == {"1002": R}
    book.update("n1", {}, ttl=4, now=10)  # lease lapsed at 5: this cannot apply
    assert book.remote(10) == {}


def test_own_messages_are_ignored_and_the_strongest_claim_wins() -> None:
    book = ClaimsBook("n2")
    book.update("n2", {"1001": U}, ttl=4, now=0, full=True)
    book.update("n1", {"1001": R}, ttl=4, now=0, full=True)
    book.update("n3", {"1001": U}, ttl=2, now=0, full=True)
    assert book.remote(1) == {"1001": U}
    assert book.remote(3) == {"1001": R}  # n3's lease ran out
    assert sorted(book.prune(5)) == ["n1", "n3"] and book.live_nodes(5) == []


def test_a_full_set_replaces_and_load_skips_lapsed_rows() -> None:
    book = ClaimsBook("n2")
    book.update("n1", {"1001": U, "1002": R}, ttl=4, now=0, full=True)
    book.update("n1", {"1003": U}, ttl=4, now=1, full=True)
    assert book.remote(1) == {"1003": U}
    book.load([("n3", "1004", U, -1.0), ("n2", "1005", U, 5.0)], now=2, nodes=["n3"])
    assert book.remote(2) == {"1003": U}


def test_not_registered_at_the_proxy_is_unavailable_unless_a_call_says_otherwise() -> None:
    local = {"1001": A, "1002": A, "1003": U, "1004": A}
    assert merge(local, {"1004": R}, registered={"1001"}) == {
        "1001": A, "1002": X, "1003": U, "1004": R}
    assert merge(local, {}, registered=None) == local  # not known: the local view decides
