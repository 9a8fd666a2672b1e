"""Web users: argon2id password hashes, expiring signed session tokens (role checks: access.py).

A login returns a JWT (HS256, PyJWT) with `sub`, `role`, `jti` and `exp`, and sets it as an
HttpOnly cookie for the web page. Every request checks the signature and expiry, then that the
session (`jti`) is not revoked and the user is still active, so logout and deactivation take
effect at once. Requests authenticated by cookie that change state must carry the header
`X-Hotline-CSRF: 1` (a cross-site form cannot set it; SameSite=Strict is the first line).

Failed logins are throttled (`LoginThrottle`): 5 per username or 20 per client address within
5 minutes, then that username or address is refused (HTTP 429, `Retry-After`) until the
window has passed, without the password being checked. The client address is the peer's,
unless it is one of `service.trusted_proxies` (then the client that proxy names):
X-Forwarded-For from anyone else is ignored (`hotline.app.httpserver`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jwt
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice.models import LINKED_ROLES, AuthSessionRow, Role, UserRow
from directory.tables import OperatorRow
from hotline.api_errors import ApiError
from hotline.clock import aware, utcnow
from recordings.settings import AuthSettings

CSRF_HEADER = "X-Hotline-CSRF"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_ALGORITHM = "HS256"
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_dummy_hash: str | None = None

log = structlog.get_logger("backoffice.auth")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (a dummy hash stands in)."""
    global _dummy_hash
    if password_hash is None:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
        password_hash = _dummy_hash
        ok = False
    else:
        ok = True
    try:
        _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role
    operator_id: int | None
    session_id: str
    via_cookie: bool


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: datetime
    user: UserRow


# -- failed-login throttle ------------------------------------------------------------------

USERNAME, CLIENT = "username", "client"
UNKNOWN_CLIENT = "unknown"  # the one key of every login whose client address is not an address


@dataclass(frozen=True)
class Attempt:
    """`LoginThrottle.attempt`'s answer: refused for `refused_for` seconds (None: admitted);
    `fills`: the limits ("username", "client") this attempt reaches if it fails."""

    refused_for: int | None
    fills: tuple[str, ...] = ()


class LoginThrottle:
    """Failed logins per username and per client address in a sliding window.

    Pure bookkeeping, no I/O; time comes from `clock`. An admitted attempt is counted as a
    failure at once, so parallel guesses cannot all pass the check while the first ones are
    still being verified; `succeeded` takes that back and clears the username's count. When a
    key holds `limit` failures younger than the window, attempts are refused until the oldest
    of them leaves the window. Keys whose newest failure has left the window are dropped, and
    at most `max_keys` keys of each kind are kept (the least recently failed go first).
    """

    def __init__(self, clock: Callable[[], datetime] = utcnow, *, username_limit: int = 5,
                 client_limit: int = 20, window: timedelta = timedelta(minutes=5),
                 max_keys: int = 10_000):
        if username_limit < 1 or client_limit < 1 or max_keys < 1 or window <= timedelta(0):
            raise ValueError("limits, max_keys and window must be positive")
        self.clock = clock
        self.window = window.total_seconds()
        self.max_keys = max_keys
        self.limits = {USERNAME: username_limit, CLIENT: client_limit}
        # key -> failure times (epoch seconds, oldest first); ordered by the latest failure
        self._failures: dict[str, OrderedDict[str, deque[float]]] = {
            USERNAME: OrderedDict(), CLIENT: OrderedDict()}

    @staticmethod
    def client_key(client: str | None) -> str:
        """The per-address key: the address in one spelling. An empty, missing or malformed
        address is not a way out of the limit: all of them share the key "unknown"."""
        try:
            return ipaddress.ip_address((client or "").strip()).compressed
        except ValueError:
            return UNKNOWN_CLIENT

    @classmethod
    def _keys(cls, username: str, client: str | None) -> list[tuple[str, str]]:
        return [(USERNAME, username.strip().casefold()), (CLIENT, cls.client_key(client))]

    def _prune(self, now: float) -> None:
        cutoff = now - self.window
        for table in self._failures.values():
            while table:
                key, times = next(iter(table.items()))
                if times and times[-1] > cutoff and len(table) <= self.max_keys:
                    break
                del table[key]

    def _live(self, kind: str, key: str, now: float) -> deque[float] | None:
        times = self._failures[kind].get(key)
        if times is not None:
            while times and times[0] <= now - self.window:
                times.popleft()
        return times

    def retry_after(self, username: str, client: str | None = None) -> int | None:
        """Whole seconds until `username` from `client` may try again; None: now."""
        now = self.clock().timestamp()
        self._prune(now)
        waits = [times[0] + self.window - now for kind, key in self._keys(username, client)
                 if (times := self._live(kind, key, now)) is not None
                 and len(times) >= self.limits[kind]]
        return max(1, math.ceil(max(waits))) if waits else None

    def attempt(self, username: str, client: str | None = None) -> Attempt:
        """Refuse an attempt, or admit it and count it as failed until `succeeded`."""
        wait = self.retry_after(username, client)
        if wait is not None:
            return Attempt(wait)
        now = self.clock().timestamp()
        fills = []
        for kind, key in self._keys(username, client):
            table = self._failures[kind]
            times = table.get(key)
            if times is None:
                times = table[key] = deque(maxlen=self.limits[kind])
            else:
                table.move_to_end(key)
            times.append(now)
            if len(times) >= self.limits[kind]:
                fills.append(kind)
        self._prune(now)
        return Attempt(None, tuple(fills))

    def succeeded(self, username: str, client: str | None = None) -> None:
        """The attempt logged in: clear the username's failures, uncount it for the client."""
        for kind, key in self._keys(username, client):
            table = self._failures[kind]
            if kind == USERNAME:
                table.pop(key, None)
            elif (times := table.get(key)) is not None:
                if times:
                    times.pop()
                if not times:
                    del table[key]

    def tracked(self) -> dict[str, int]:
        """How many usernames and client addresses are held (for tests and metrics)."""
        return {kind: len(table) for kind, table in self._failures.items()}


class Authenticator:
    def __init__(self, sm: async_sessionmaker[AsyncSession], settings: AuthSettings, secret: str,
                 clock: Callable[[], datetime] = utcnow, throttle: LoginThrottle | None = None):
        if len(secret) < 32:
            raise ValueError("token secret must be at least 32 characters")
        self.sm = sm
        self.settings = settings
        self._secret = secret
        self.clock = clock
        self.throttle = throttle if throttle is not None else LoginThrottle(clock)

    # -- login / logout

    async def login(self, username: str, password: str, client: str | None = None) -> LoginResult:
        """`client`: the caller's address, for the per-address limit of failed logins."""
        attempt = self.throttle.attempt(username, client)
        if attempt.refused_for is not None:
            raise ApiError(429, "too_many_attempts",
                           f"too many failed logins; try again in {attempt.refused_for} s",
                           {"retry_after": attempt.refused_for},
                           headers={"Retry-After": str(attempt.refused_for)})
        async with self.sm() as s:
            user = await s.scalar(select(UserRow).where(UserRow.username == username))
        stored = user.password_hash if user is not None and user.active else None
        ok = await asyncio.to_thread(verify_password, stored, password)
        if not ok or user is None:
            if attempt.fills:
                log.warning("auth.login_throttled", username=username, client=client,
                            limits=list(attempt.fills),
                            retry_after=self.throttle.retry_after(username, client),
                            window_seconds=int(self.throttle.window))
            raise ApiError(401, "login_failed", "wrong username or password")
        self.throttle.succeeded(username, client)
        now = self.clock()
        expires = now + timedelta(minutes=self.settings.token_ttl_minutes)
        jti = secrets.token_urlsafe(24)
        async with self.sm() as s, s.begin():
            s.add(AuthSessionRow(id=jti, user_id=user.id, created_at=now, expires_at=expires))
            await s.execute(update(UserRow).where(UserRow.id == user.id).values(last_login_at=now))
        token = jwt.encode(
            {"sub": str(user.id), "role": user.role, "jti": jti,
             "iat": int(now.timestamp()), "exp": int(expires.timestamp())},
            self._secret, algorithm=_ALGORITHM,
        )
        return LoginResult(token, expires, user)

    async def logout(self, principal: Principal) -> None:
        async with self.sm() as s, s.begin():
            await s.execute(update(AuthSessionRow).where(AuthSessionRow.id == principal.session_id)
                            .values(revoked_at=self.clock()))

    # -- per request

    def _token(self, request: Request) -> tuple[str | None, bool]:
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            return header[7:].strip(), False
        cookie = request.cookies.get(self.settings.cookie_name)
        return (cookie, True) if cookie else (None, False)

    async def authenticate(self, request: Request) -> Principal:
        token, via_cookie = self._token(request)
        if not token:
            raise ApiError(401, "not_authenticated", "log in first",
                           headers={"WWW-Authenticate": "Bearer"})
        now = self.clock()
        try:
            claims = jwt.decode(token, self._secret, algorithms=[_ALGORITHM],
                                options={"require": ["exp", "sub", "jti"], "verify_exp": False})
        except jwt.InvalidTokenError as exc:
            raise ApiError(401, "invalid_token", "the session token is not valid",
                           headers={"WWW-Authenticate": "Bearer"}) from exc
        if int(claims["exp"]) <= now.timestamp():  # our clock, so tests can move it
            raise ApiError(401, "session_expired", "the session expired; log in again",
                           headers={"WWW-Authenticate": "Bearer"})
        async with self.sm() as s:
            row = (await s.execute(
                select(AuthSessionRow, UserRow).join(UserRow, UserRow.id == AuthSessionRow.user_id)
                .where(AuthSessionRow.id == str(claims["jti"]))
            )).first()
        if row is None:
            raise ApiError(401, "invalid_token", "the session token is not valid")
        sess, user = row
        if (sess.revoked_at is not None or aware(sess.expires_at) <= now or not user.active
                or str(user.id) != str(claims["sub"])):
            raise ApiError(401, "session_expired", "the session ended; log in again")
        if via_cookie and request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
            raise ApiError(403, "csrf_header_missing",
                           f"requests with the session cookie that change data need {CSRF_HEADER}: 1")
        return Principal(user.id, user.username, Role(user.role), user.operator_id, sess.id, via_cookie)


# -- users ----------------------------------------------------------------------------------


async def create_user(sm: async_sessionmaker[AsyncSession], username: str, password: str,
                      role: Role, operator_id: int | None = None) -> int:
    if role in LINKED_ROLES and operator_id is None:
        raise ValueError(f"a {role.value} user needs operator_id")
    pw_hash = await asyncio.to_thread(hash_password, password)
    async with sm() as s, s.begin():
        user = UserRow(username=username, password_hash=pw_hash, role=role.value,
                       operator_id=operator_id, active=True, created_at=utcnow())
        s.add(user)
        await s.flush()
        return user.id


async def revoke_sessions(s: AsyncSession, user_id: int, now: datetime) -> int:
    """End the user's open sessions (in the caller's transaction); how many were open."""
    res = await s.execute(update(AuthSessionRow)
                          .where(AuthSessionRow.user_id == user_id,
                                 AuthSessionRow.revoked_at.is_(None))
                          .values(revoked_at=now))
    return int(res.rowcount or 0)


async def ensure_demo_users(sm: async_sessionmaker[AsyncSession], var_dir: Path,
                            operator_extension: str | None = None) -> dict[str, str]:
    """Demo mode only: when there are no users, create admin, qa and operator with random
    passwords written to var/qa-users.txt (mode 0600). Returns {username: password} of the
    users created now ({} when users already exist)."""
    async with sm() as s:
        if await s.scalar(select(UserRow.id).limit(1)) is not None:
            return {}
        q = select(OperatorRow).where(OperatorRow.active).order_by(OperatorRow.extension)
        if operator_extension is not None:
            q = q.where(OperatorRow.extension == operator_extension)
        op = await s.scalar(q.limit(1))
    created: dict[str, str] = {}
    for name, role in (("admin", Role.ADMIN), ("qa", Role.QA), ("operator", Role.OPERATOR)):
        if role is Role.OPERATOR and op is None:
            continue
        password = secrets.token_urlsafe(12)
        await create_user(sm, name, password, role, op.id if role is Role.OPERATOR and op else None)
        created[name] = password
    path = var_dir / "qa-users.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("".join(f"{u} {p}\n" for u, p in created.items()))
    return created
