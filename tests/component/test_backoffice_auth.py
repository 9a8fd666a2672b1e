"""backoffice/auth.py: the failed-login throttle, the pure bookkeeping with a fake clock, then
through the HTTP API (5 failures per username, 20 per client address, in 5 minutes; HTTP 429
with Retry-After); passwords stored as argon2id hashes."""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import structlog

from backoffice.auth import Authenticator, LoginThrottle
from hotline.api_errors import ApiError
from recordings.settings import AuthSettings
from tests.support.qa_env import PASSWORDS, Clock, QaTestEnv

pytestmark = pytest.mark.component

WINDOW = timedelta(minutes=5)


@pytest.fixture
async def env(clocked_env: QaTestEnv) -> QaTestEnv:
    """The app on the fake clock (conftest's `clock`)."""
    return clocked_env


def fail(t: LoginThrottle, n: int, username: str = "qa", client: str | None = "10.0.0.1") -> None:
    for i in range(n):
        a = t.attempt(username, client)
        assert a.refused_for is None, f"attempt {i + 1} of {n} refused"


# -- pure -----------------------------------------------------------------------------------


def test_username_limit(clock: Clock) -> None:
    t = LoginThrottle(clock)
    fail(t, 4)
    fifth = t.attempt("qa", "10.0.0.1")
    assert fifth.refused_for is None and fifth.fills == ("username",)  # the fifth trips it
    assert t.attempt("qa", "10.0.0.2").refused_for == 300  # any address: the username is locked
    assert t.attempt(" QA ", "10.0.0.3").refused_for == 300  # the same name, spelled otherwise
    assert t.attempt("boris", "10.0.0.1").refused_for is None  # other names are not
    clock.now += timedelta(seconds=299.5)
    assert t.retry_after("qa") == 1  # whole seconds, rounded up
    clock.now += timedelta(seconds=0.5)
    assert t.retry_after("qa") is None


def test_sliding_window(clock: Clock) -> None:
    """Refused until the oldest of the last five failures is five minutes old."""
    t = LoginThrottle(clock)
    for i in range(5):  # one failure a minute: t0, t0+1m, ..., t0+4m
        if i:
            clock.now += timedelta(seconds=60)
        fail(t, 1)
    assert t.attempt("qa", "10.0.0.1").refused_for == 60  # until t0+5m
    clock.now += timedelta(seconds=60)  # t0+5m: the failure at t0 has left the window
    assert t.attempt("qa", "10.0.0.1").refused_for is None
    assert t.attempt("qa", "10.0.0.1").refused_for == 60  # five in the window again: until t0+6m


def test_window_expiry_restores_everything(clock: Clock) -> None:
    t = LoginThrottle(clock)
    fail(t, 5)
    assert t.retry_after("qa", "10.0.0.1") == 300
    clock.now += WINDOW
    assert t.retry_after("qa", "10.0.0.1") is None
    fail(t, 5)  # a fresh allowance


def test_client_limit(clock: Clock) -> None:
    t = LoginThrottle(clock)
    for i in range(20):  # 20 usernames, one failure each, from one address
        a = t.attempt(f"user{i}", "10.0.0.9")
        assert a.refused_for is None
    assert a.fills == ("client",)
    assert t.attempt("admin", "10.0.0.9").refused_for == 300  # even a name never tried
    assert t.attempt("admin", "10.0.0.10").refused_for is None  # another address may
    assert t.attempt("admin", None).refused_for is None  # no address known: the "unknown" key


def test_no_address_is_no_way_out(clock: Clock) -> None:
    """A missing, empty or malformed address is one key ("unknown"), limited like any
    other; one address in two spellings is one key."""
    t = LoginThrottle(clock)
    odd = [None, "", " ", "garbage", "1.2.3.4.5", "::1::2", "unknown"]
    for i in range(20):
        assert t.attempt(f"user{i}", odd[i % len(odd)]).refused_for is None
    for client in odd:
        assert t.attempt("admin", client).refused_for == 300, client
    assert t.tracked()["client"] == 1
    for i in range(19):
        assert t.attempt(f"v{i}", "0:0:0:0:0:0:0:1").refused_for is None
    assert t.attempt("w", "::1").refused_for is None  # the 20th failure from ::1
    assert t.attempt("x", "::1").refused_for == 300
    assert t.attempt("x", "127.0.0.1").refused_for is None


def test_success_clears_the_username(clock: Clock) -> None:
    t = LoginThrottle(clock)
    fail(t, 4)
    t.attempt("qa", "10.0.0.1")
    t.succeeded("qa", "10.0.0.1")  # the fifth attempt was the right password
    fail(t, 4)  # the username starts again from zero
    assert t.attempt("qa", "10.0.0.1").fills == ("username",)
    # a success is not counted against the address: 9 failures + 1 success leave 11 more
    t2 = LoginThrottle(clock)
    for i in range(9):
        t2.attempt(f"u{i}", "10.0.0.1")
    t2.attempt("ok", "10.0.0.1")
    t2.succeeded("ok", "10.0.0.1")
    for i in range(11):
        assert t2.attempt(f"v{i}", "10.0.0.1").refused_for is None
    assert t2.attempt("w", "10.0.0.1").refused_for is not None


def test_attempts_count_before_their_outcome(clock: Clock) -> None:
    """Parallel guesses: each admitted attempt counts at once, not after argon2 answers."""
    t = LoginThrottle(clock)
    admitted = [t.attempt("qa", f"10.0.0.{i}").refused_for is None for i in range(8)]
    assert admitted == [True] * 5 + [False] * 3


def test_old_entries_are_pruned_and_memory_is_bounded(clock: Clock) -> None:
    t = LoginThrottle(clock)
    for i in range(1000):
        t.attempt(f"user{i}", f"10.0.{i // 250}.{i % 250}")
    assert t.tracked() == {"username": 1000, "client": 1000}
    clock.now += WINDOW + timedelta(seconds=1)
    t.attempt("late", "10.9.9.9")
    assert t.tracked() == {"username": 1, "client": 1}

    small = LoginThrottle(clock, max_keys=3)
    for i in range(10):
        small.attempt(f"user{i}", f"10.0.0.{i}")
    assert small.tracked() == {"username": 3, "client": 3}
    assert small.retry_after("user9") is None and small.attempt("user9").fills == ()


def test_settings_are_checked(clock: Clock) -> None:
    with pytest.raises(ValueError):
        LoginThrottle(clock, username_limit=0)
    with pytest.raises(ValueError):
        LoginThrottle(clock, window=timedelta(0))


# -- through the authenticator and the API --------------------------------------------------


async def test_client_limit_in_the_authenticator(env: QaTestEnv, clock: Clock) -> None:
    auth = Authenticator(env.sm, AuthSettings(), "t" * 48, clock,
                         throttle=LoginThrottle(clock, client_limit=3))
    for name in ("nobody", "qa", "admin"):
        with pytest.raises(ApiError) as e:
            await auth.login(name, "wrong-password", "10.0.0.5")
        assert e.value.status == 401 and e.value.error_id == "login_failed"
    with pytest.raises(ApiError) as e:
        await auth.login("operator", PASSWORDS["operator"], "10.0.0.5")
    assert e.value.status == 429 and e.value.headers == {"Retry-After": "300"}
    assert (await auth.login("operator", PASSWORDS["operator"], "10.0.0.6")).user.username == "operator"


async def test_http_429_after_five_failures(env: QaTestEnv, client: httpx.AsyncClient, clock: Clock) -> None:
    url = "/api/auth/login"
    with structlog.testing.capture_logs() as logs:
        for _ in range(5):
            r = await client.post(url, json={"username": "qa", "password": "wrong-password"})
            assert r.status_code == 401 and r.json()["error_id"] == "login_failed"  # unchanged
    tripped = [e for e in logs if e["event"] == "auth.login_throttled"]
    assert len(tripped) == 1 and tripped[0]["log_level"] == "warning"
    assert tripped[0]["username"] == "qa" and tripped[0]["client"] == "127.0.0.1"
    assert tripped[0]["limits"] == ["username"] and tripped[0]["retry_after"] == 300
    assert "wrong-password" not in repr(tripped)

    clock.now += timedelta(seconds=10)
    r = await client.post(url, json={"username": "qa", "password": PASSWORDS["qa"]})  # right, but
    assert r.status_code == 429
    assert r.headers["retry-after"] == "290"
    body = r.json()
    assert body["error_id"] == "too_many_attempts" and body["details"] == {"retry_after": 290}
    assert set(body) == {"error_id", "message", "details"} and "set-cookie" not in r.headers

    # an unknown username is throttled the same way (nothing tells which names exist)
    for _ in range(5):
        assert (await client.post(url, json={"username": "nobody", "password": "x"})).status_code == 401
    r = await client.post(url, json={"username": "nobody", "password": "x"})
    assert r.status_code == 429 and "retry-after" in r.headers

    # other usernames from the same address are unaffected (10 failures < 20)
    r = await client.post(url, json={"username": "admin", "password": PASSWORDS["admin"]})
    assert r.status_code == 200

    clock.now += WINDOW  # the window has passed
    r = await client.post(url, json={"username": "qa", "password": PASSWORDS["qa"]})
    assert r.status_code == 200 and r.json()["user"]["username"] == "qa"


async def test_http_success_clears_the_username(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    url = "/api/auth/login"
    for _ in range(4):
        assert (await client.post(url, json={"username": "qa", "password": "wrong"})).status_code == 401
    assert (await client.post(url, json={"username": "qa", "password": PASSWORDS["qa"]})).status_code == 200
    for _ in range(4):
        assert (await client.post(url, json={"username": "qa", "password": "wrong"})).status_code == 401
    assert (await client.post(url, json={"username": "qa", "password": PASSWORDS["qa"]})).status_code == 200


async def test_openapi_documents_429(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "429" in spec["paths"]["/api/auth/login"]["post"]["responses"]


async def test_passwords_are_hashed(env: QaTestEnv) -> None:
    from sqlalchemy import select

    from backoffice.models import UserRow
    async with env.sm() as s:
        hashes = (await s.scalars(select(UserRow.password_hash))).all()
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert not any(p in h for h in hashes for p in PASSWORDS.values())
