"""A small, hand-checkable data set for the QA tests and the browser test.

Seven calls on 2026-11-02/03 (Moscow) plus one old call from July; the expected statistics
are worked out in `EXPECTED` from the list below, not from the code under test.
"""

from __future__ import annotations

import math
import struct
import wave
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backoffice.auth import create_user
from backoffice.models import Role
from callrouting.tables import CallAttemptRow, CallReviewRow
from directory.tables import CallerRow, OperatorRow, TeamRow
from hotline.db.calls import CallEventRow, CallRow
from hotline.metrics import Metrics
from recordings.models import RatingRow, RecordingRow
from recordings.storage import recording_relpath

D1 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
D2 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
OLD = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)

PASSWORDS = {"admin": "admin-pass-0123456789", "qa": "qa-pass-0123456789", "operator": "op-pass-0123456789",
             "team_lead": "lead-pass-0123456789"}


def write_wav(path: Path, seconds: float = 2.0, rate: int = 8000, freq: float = 440.0) -> int:
    """A mono 16-bit tone, like MixMonitor's 8 kHz WAV. Returns the file size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * rate)
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate))) for i in range(n))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return path.stat().st_size


@dataclass
class Seeded:
    teams: dict[str, int] = field(default_factory=dict)
    operators: dict[str, int] = field(default_factory=dict)
    callers: dict[str, int] = field(default_factory=dict)
    calls: dict[int, int] = field(default_factory=dict)  # number in the list -> call id
    recordings: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)


async def seed(sm: async_sessionmaker[AsyncSession], recordings_dir: Path, *, users: bool = True) -> Seeded:
    out = Seeded()
    async with sm() as s, s.begin():
        alpha, beta, scratch = TeamRow(name="Alpha"), TeamRow(name="Beta"), TeamRow(name="Scratch")
        s.add_all([alpha, beta, scratch])
        await s.flush()
        ops = {
            "anna": OperatorRow(name="Anna Orlova", extension="2001", sip_password="x" * 16, team_id=alpha.id),
            "boris": OperatorRow(name="Boris Petrov", extension="2002", sip_password="x" * 16, team_id=alpha.id),
            "clara": OperatorRow(name="Clara Lead", extension="2003", sip_password="x" * 16, role="team_lead", team_id=beta.id),
            "scratch": OperatorRow(name="Scratch Op", extension="2099", sip_password="x" * 16),
        }
        s.add_all(ops.values())
        await s.flush()
        beta.lead_id = ops["clara"].id
        ivanova = CallerRow(number="+79001112233", name="Maria Ivanova", vip=True, personal_manager_id=ops["anna"].id)
        petrov = CallerRow(number="+79004445566", name="Ivan Petrov", vip=False)
        scratch_caller = CallerRow(number="+79009998877", name="Scratch Caller")
        s.add_all([ivanova, petrov, scratch_caller])
        await s.flush()
        out.teams = {"alpha": alpha.id, "beta": beta.id, "scratch": scratch.id}
        out.operators = {k: v.id for k, v in ops.items()}
        out.callers = {"ivanova": ivanova.id, "petrov": petrov.id, "scratch": scratch_caller.id}

        def call(n: int, at: datetime, *, caller: CallerRow | None = None, op: str | None = None,
                 intent: str | None = None, bot: list[Any] | None = None, outcome: str = "completed",
                 ended: bool = True, asa: float = 0) -> CallRow:
            row = CallRow(
                uniqueid=f"seed-{n}", started_at=at, answered_at=at + timedelta(seconds=30 + asa) if op else None,
                ended_at=at + timedelta(minutes=3) if ended else None,
                caller_number=caller.number if caller else "+79005550000",
                caller_name=caller.name if caller else None, caller_ref_id=caller.id if caller else None,
                answered_by_id=ops[op].id if op else None, intent=intent, bot_transcript=bot,
                outcome=outcome if ended else None,
                path=[{"node": "start", "at": at.isoformat(), "detail": "caller known" if caller else ""},
                      {"node": "main_menu", "at": (at + timedelta(seconds=5)).isoformat(), "detail": "pressed 1"}],
            )
            return row

        bot_talk = [{"role": "caller", "text": "When is the next draw?"},
                    {"role": "bot", "text": "The next Six of Forty-Five draw is tonight at 22:00."}]
        calls = {
            1: call(1, D1, caller=ivanova, op="anna", intent="ticket_check", asa=6),
            2: call(2, D1 + timedelta(hours=1), caller=petrov, op="anna", intent="prize_claim", asa=10),
            3: call(3, D1 + timedelta(hours=2), op="boris", intent="ticket_check", asa=24),
            4: call(4, D2, caller=petrov, op="clara", intent="complaint", asa=8),
            5: call(5, D2 + timedelta(hours=1), intent="draw_results", bot=bot_talk, outcome="bot_done"),
            6: call(6, D2 + timedelta(hours=2), intent="prize_claim", bot=bot_talk, outcome="caller_hung_up"),
            7: call(7, D2 + timedelta(hours=3), outcome="caller_hung_up"),
            8: call(8, OLD, caller=ivanova, op="boris", intent="ticket_check", asa=5),
        }
        s.add_all(calls.values())
        await s.flush()
        out.calls = {n: c.id for n, c in calls.items()}

        def attempt(n: int, step: int, reason: str, start_s: float, end_s: float, outcome: str,
                    answered_by: str | None = None, targets: list[str] | None = None) -> dict[str, Any]:
            at = calls[n].started_at + timedelta(seconds=30)
            return dict(call_id=calls[n].id, step_index=step, reason=reason,
                        targets=[ops[t].extension for t in (targets or ([answered_by] if answered_by else []))],
                        started_at=at + timedelta(seconds=start_s), ended_at=at + timedelta(seconds=end_s),
                        duration=end_s - start_s, outcome=outcome,
                        answered_by_id=ops[answered_by].id if answered_by else None)

        await s.execute(CallAttemptRow.__table__.insert(), [
            attempt(1, 0, "personal_manager", 0, 6, "answered", "anna"),
            attempt(2, 0, "pool", 0, 10, "answered", "anna"),
            attempt(3, 0, "personal_manager", 0, 20, "no_answer", targets=["anna"]),
            attempt(3, 1, "backups", 20, 24, "answered", "boris"),
            attempt(4, 0, "personal_manager", 0, 0, "busy", targets=["anna"]),
            attempt(4, 1, "team_lead", 0, 8, "answered", "clara"),
            attempt(6, 0, "pool", 0, 30, "caller_hung_up", targets=["anna", "boris"]),
            attempt(8, 0, "personal_manager", 0, 5, "answered", "boris"),
        ])
        await s.execute(CallReviewRow.__table__.insert(), [dict(
            call_id=calls[4].id, reason="manager_busy", flagged_at=calls[4].started_at + timedelta(seconds=30),
            status="open")])

        rel1 = recording_relpath(calls[1].id, D1 + timedelta(seconds=36))
        size1 = write_wav(recordings_dir / rel1, seconds=3.0)
        rel3 = recording_relpath(calls[3].id, D1 + timedelta(hours=2, seconds=54))
        size3 = write_wav(recordings_dir / rel3, seconds=1.0, freq=660)
        rel8 = recording_relpath(calls[8].id, OLD + timedelta(seconds=35))
        size8 = write_wav(recordings_dir / rel8, seconds=1.0)
        recs = {
            "call1": RecordingRow(call_id=calls[1].id, path=rel1, started_at=D1 + timedelta(seconds=36),
                                  duration=3.0, size=size1, enabled=True, node="operator"),
            "call2_off": RecordingRow(call_id=calls[2].id, path=None, started_at=D1 + timedelta(hours=1, seconds=40),
                                      enabled=False, node="complaints",
                                      disabled_reason="dialplan node complaints has record: false"),
            "call3": RecordingRow(call_id=calls[3].id, path=rel3, started_at=D1 + timedelta(hours=2, seconds=54),
                                  duration=1.0, size=size3, enabled=True, node="operator"),
            "call8_old": RecordingRow(call_id=calls[8].id, path=rel8, started_at=OLD + timedelta(seconds=35),
                                      duration=1.0, size=size8, enabled=True, node="operator"),
            "evil": RecordingRow(call_id=calls[7].id, path="../../../../etc/passwd", started_at=D2 + timedelta(hours=3),
                                 enabled=True, node="operator"),
        }
        s.add_all(recs.values())
        await s.flush()
        out.recordings = {k: v.id for k, v in recs.items()}
        s.add(CallEventRow(call_id=calls[1].id, at=D1 + timedelta(seconds=36), kind="recording_started",
                           data={"path": rel1}))

        def rating(n: int, score: int | None, op: str) -> RatingRow:
            return RatingRow(call_id=calls[n].id, operator_id=ops[op].id, team_id=ops[op].team_id, score=score,
                             status="rated" if score is not None else "no_rating",
                             rated_at=calls[n].started_at + timedelta(minutes=3),
                             recording_id=recs["call1"].id if n == 1 else None)

        s.add_all([rating(1, 5, "anna"), rating(2, 4, "anna"), rating(3, 2, "boris"),
                   rating(4, None, "clara"), rating(8, 5, "boris")])

    if users:
        # admin and qa are team lead Clara's web users: click-to-call rings her phone (2003)
        out.users["admin"] = await create_user(sm, "admin", PASSWORDS["admin"], Role.ADMIN,
                                               operator_id=out.operators["clara"])
        out.users["qa"] = await create_user(sm, "qa", PASSWORDS["qa"], Role.QA,
                                            operator_id=out.operators["clara"])
        out.users["operator"] = await create_user(sm, "operator", PASSWORDS["operator"], Role.OPERATOR,
                                                  operator_id=out.operators["anna"])
        # team lead Clara's own login: the wallboard, and click-to-call from her phone only
        out.users["team_lead"] = await create_user(sm, "team_lead", PASSWORDS["team_lead"], Role.TEAM_LEAD,
                                                   operator_id=out.operators["clara"])
    return out


# Worked out by hand from the list above, for 2026-11-02..2026-11-03 (calls 1-7).
EXPECTED = {
    "calls": 7,
    "operator_answered": 4,  # calls 1-4
    "rated": 3,  # 5, 4, 2 (call 4: no rating)
    "csat": round(2 / 3, 4),  # 5 and 4 of three rated
    "rating_share": 0.75,  # 3 rated of 4 answered
    "bot_handled": 2,  # calls 5, 6
    "bot_contained": 1,  # call 5
    "containment": 0.5,
    "offered": 5,  # calls 1, 2, 3, 4, 6
    "abandoned": 1,  # call 6
    "abandonment": 0.2,
    "asa_seconds": 12.0,  # (6 + 10 + 24 + 8) / 4
}


class StaticPresence:
    """The presence tracker's `snapshot()`, fixed (no AMI)."""

    def __init__(self, snapshot: dict[str, str]) -> None:
        self.state = snapshot

    def snapshot(self) -> dict[str, str]:
        return self.state


@dataclass
class NoAmi:
    connected: bool = False
    asterisk_version: str | None = None
    last_error: str | None = "not connected (test without Asterisk)"


@dataclass
class NoAgi:
    active_calls: int = 0


@dataclass
class QaServices:
    """What `create_app` needs of the service (`hotline.app.http.AppServices`), without
    Asterisk: the real database, authenticator and dialplan registry; fixed presence."""

    sessionmaker: async_sessionmaker[AsyncSession]
    recordings: Any
    auth: Any
    dialplans: Any
    presence: Any  # has snapshot()
    ami: NoAmi = field(default_factory=NoAmi)
    agi: NoAgi = field(default_factory=NoAgi)
    metrics: Metrics = field(default_factory=Metrics)
    metrics_allow: tuple[Any, ...] = (ip_network("127.0.0.0/8"), ip_network("::1/128"))
    directory_changes: int = 0  # directory_changed() calls (the admin API's reload hook)
    waiting: list[Any] = field(default_factory=list)  # callrouting.events.WaitingCaller

    async def directory_changed(self) -> None:
        self.directory_changes += 1

    def presence_now(self) -> Any:
        return self.presence

    def waiting_now(self) -> list[Any]:
        return list(self.waiting)

    clicks: list[tuple[int, str, str]] = field(default_factory=list)

    async def click_to_call(self, call_id: int, extension: str, requested_by: str) -> int:
        """No Asterisk here: the request is only noted (its e2e test rings real phones)."""
        self.clicks.append((call_id, extension, requested_by))
        return len(self.clicks)


@dataclass
class QaTestEnv:
    app: Any
    engine: AsyncEngine
    sm: async_sessionmaker[AsyncSession]
    settings: Any
    seeded: Seeded
    url: str
    services: QaServices
    dialplan_version: int  # the stored id of the dialplan loaded at start


TOKEN_SECRET = "t" * 48


async def build_app(sm: async_sessionmaker[AsyncSession], tmp: Path, settings: Any, *,
                    clock: Any = None, presence: Any = None,
                    limits: Any = None) -> tuple[Any, QaServices, int]:
    """The service's app (`create_app`) on a migrated database, without Asterisk: the demo
    dialplan (a copy under `tmp`) in a real registry, an authenticator on `clock`, and
    `presence` ({extension: presence}, or anything with `snapshot()`); `limits`: the HTTP
    limits (`hotline.pbx.settings.HttpLimits`, default its defaults).

    Returns (app, services, the stored id of the dialplan version loaded)."""
    from backoffice.auth import Authenticator
    from hotline.app.http import create_app
    from hotline.clock import utcnow
    from hotline.paths import PROJECT_ROOT
    from ivr.registry import DialplanRegistry
    from ivr.store import DialplanVersionStore

    dialplan = tmp / "hotline.yaml"
    dialplan.write_text((PROJECT_ROOT / "dialplan" / "hotline.yaml").read_text())
    registry = DialplanRegistry(dialplan, DialplanVersionStore(sm))
    await registry.load_file()
    assert registry.active_version is not None
    auth = Authenticator(sm, settings.auth, TOKEN_SECRET, clock if clock is not None else utcnow)
    if presence is None or isinstance(presence, dict):
        presence = StaticPresence(presence or {})
    services = QaServices(sm, settings, auth, registry, presence)
    return create_app(services, limits), services, registry.active_version.id


async def build_test_env(tmp: Path, *, clock: Any = None, presence: dict[str, str] | None = None,
                         users: bool = True, limits: Any = None,
                         url: str | None = None) -> QaTestEnv:
    """The data above in a database migrated to head (`url`, else a SQLite file in `tmp`
    migrated now), and the service's app (`create_app`) on it."""
    from hotline.db import migrate
    from hotline.db.base import make_engine, make_sessionmaker
    from recordings.settings import RecordingSettings

    if url is None:
        url = f"sqlite+aiosqlite:///{tmp / 'qa.db'}"
        await migrate.upgrade(url)
    engine = make_engine(url)
    sm = make_sessionmaker(engine)
    settings = RecordingSettings(dir=tmp / "recordings", retention_days=90).resolved(tmp)
    settings.dir.mkdir(parents=True, exist_ok=True)
    seeded = await seed(sm, settings.dir, users=users)
    pres = presence if presence is not None else {"2001": "available", "2002": "in_use"}
    app, services, dialplan_version = await build_app(sm, tmp, settings, clock=clock, presence=pres,
                                                      limits=limits)
    return QaTestEnv(app, engine, sm, settings, seeded, url, services, dialplan_version)


async def login(client: Any, role: str, password: str | None = None) -> dict[str, str]:
    """Log in through the API; the bearer header (the session cookie is dropped: tests use
    the token unless they test the cookie)."""
    r = await client.post("/api/auth/login", json={"username": role, "password": password or PASSWORDS[role]})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


ROLES = ("admin", "qa", "operator", "team_lead")  # the seeded users' names are their roles


async def tokens(client: Any) -> dict[str, dict[str, str]]:
    """A bearer header for each seeded user: {role: header}."""
    out = {}
    for role in ROLES:
        r = await client.post("/api/auth/login", json={"username": role, "password": PASSWORDS[role]})
        assert r.status_code == 200
        out[role] = {"Authorization": "Bearer " + r.json()["access_token"]}
    client.cookies.clear()
    return out


class Clock:
    """A clock that stands still until a test moves `now`."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now
