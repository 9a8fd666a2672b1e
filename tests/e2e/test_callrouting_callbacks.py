"""Issue 11's callback on the real Asterisk (must-show 2, and 3's "a callback request keeps its
place relative to callers still waiting"), and click-to-call through the API.

Callers are sipp UACs that wait in the pool while every operator is busy; the one who asks
for a callback presses 1 twice (offer, confirm) and hears the goodbye; the callback reaches
the caller at a sipp UAS on the callers' trunk (`asterisk.callback_contact`, CALLERS_PORT),
which sees an INVITE for the caller's number.  The operator who takes the callback is a sipp
phone: the From display name of the INVITE it gets is what its screen would show.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from callrouting.model import Presence
from callrouting.tables import CallbackRow
from hotline.app.service import Service
from hotline.app.settings import Settings
from hotline.db.calls import CallEventRow
from hotline.pbx.asterisk import AsteriskInstance
from hotline.pbx.sipp import sipp_available
from tests.e2e.conftest import CALLERS_PORT, SIP_PORT, api_client
from tests.e2e.peers import Baresip, SippOperator
from tests.e2e.test_callrouting_waiting import (
    Callers,
    answered_by,
    call_row,
    next_announcement,
    op_id,
    operator,
    until,
)

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")

DIALPLAN = """\
version: 1
name: callback-test
timezone: Europe/Moscow
languages: [en]
voice: v
start: operator
queue:
  announce_every: 60
  position: "You are number {position} in the queue."
  wait: "The expected wait is {wait}."
  less_than_a_minute: "less than a minute"
  one_minute: "about one minute"
  minutes: "about {minutes} minutes"
  wrapup: 1
  callback:
    key: 1
    offer: "To be called back, keeping your place, press 1."
    confirm: "We will call you back on {number}. To confirm, press 1."
    goodbye: "Thank you. We will call you back on {number}. Goodbye."
    attempts: 2
    retry_after: 10
    ring_caller: 6
    business_hours_only: false
nodes:
  operator:
    type: operator
"""
A, B, C = "+79990003001", "+79990003002", "+79990003003"  # the callback test's callers
D, E = "+79990004001", "+79990004002"  # the retry test's
F = "+79990005001"  # the team lead's click-to-call
G = "+79990006001"  # the business hours test's

# the operator answers and then waits for Asterisk's BYE (the callback ends from the caller's side)
OPERATOR_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="operator answers, Asterisk hangs up">
  <recv request="INVITE" timeout="120000" rrs="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]op[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="500"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]op[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE" timeout="120000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

# the called-back caller answers, talks a little and hangs up
CALLER_ANSWERS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="the caller answers the callback">
  <recv request="INVITE" timeout="120000" rrs="true">
    <action>
      <ereg regexp=";tag=([^;> ]+)" search_in="hdr" header="From:" assign_to="junk,ftag"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]cb[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="1000"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]cb[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:caller@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000

    ]]>
  </send>
  <recv request="ACK"/>
  <pause milliseconds="3000"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]cb[call_number]
      To: <sip:asterisk@[remote_ip]:[remote_port]>;tag=[$ftag]
      [last_Call-ID:]
      CSeq: 1 BYE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <Reference variables="junk"/>
</scenario>
"""

# the called-back caller lets it ring until Asterisk gives up (CANCEL)
CALLER_IGNORES = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="the caller does not answer">
  <recv request="INVITE" timeout="120000"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]cb[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="CANCEL"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]cb[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]cb[call_number]
      [last_Call-ID:]
      CSeq: [cseq] INVITE
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""


class CallerPhone:
    """The callers' side of the trunk: a sipp UAS on CALLERS_PORT taking `calls` INVITEs."""

    def __init__(self, scenario: str, calls: int = 1):
        self.dir = Path(tempfile.mkdtemp(prefix="sipp-callers-"))
        (self.dir / "uas.xml").write_text(scenario)
        self.calls = calls
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "sipp", f"127.0.0.1:{SIP_PORT}", "-sf", str(self.dir / "uas.xml"), "-m", str(self.calls), "-i", "127.0.0.1",
            "-p", str(CALLERS_PORT), "-nostdin", "-trace_msg", "-message_file",
            str(self.dir / "messages.log"), "-trace_err", "-error_file", str(self.dir / "errors.log"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=self.dir)

    def invites(self) -> list[str]:
        """Request lines of the INVITEs Asterisk sent to the callers' trunk."""
        p = self.dir / "messages.log"
        text = p.read_text(errors="replace") if p.exists() else ""
        return re.findall(r"^INVITE (sip:\S+) SIP/2.0", text, re.M)

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def caller_phone(scenario: str, calls: int = 1) -> AsyncIterator[CallerPhone]:
    phone = CallerPhone(scenario, calls)
    await phone.start()
    try:
        yield phone
    finally:
        await phone.stop()


@contextlib.asynccontextmanager
async def sipp_operator(svc: Service, ext: str, calls: int = 1) -> AsyncIterator[SippOperator]:
    op = SippOperator(ext, f"demo-pass-{ext}", svc.settings.asterisk.sip_port, calls=calls)
    (op.dir / "uas.xml").write_text(OPERATOR_UAS.replace("{ext}", ext))
    await op.start()
    try:
        yield op
    finally:
        await op.stop()


def operator_invites(op: SippOperator) -> list[str]:
    """The From headers of the INVITEs the sipp operator got."""
    return re.findall(r"^INVITE sip:.*?\n(?:.*\n)*?From: *(.*)$", op.messages(), re.M)


@contextlib.asynccontextmanager
async def callback_service(settings: Settings, tmp: Path, dialplan: str = DIALPLAN,
                           with_bot: bool = False) -> AsyncIterator[Service]:
    path = tmp / "callback.yaml"
    path.write_text(dialplan)
    svc = Service(settings.model_copy(update={"dialplan": path}), with_bot=with_bot)
    await svc.start()
    try:
        async with asyncio.timeout(10):
            while not (svc.ami.connected and svc.presence.resyncs):
                await asyncio.sleep(0.05)
        yield svc
    finally:
        await svc.stop()
        # the session's database is shared: no request of this test may ring another test's phones
        async with svc.sessionmaker() as s, s.begin():
            await s.execute(update(CallbackRow).where(CallbackRow.state.in_(
                ("pending", "ringing_operator", "dialling_caller"))).values(
                state="cancelled", reason="test ended"))
        await svc.engine.dispose()


def ask_callback(callers: Callers, number: str, hang_up: bool = False) -> None:
    """A caller who waits, presses 1 (the offer), hears the number, presses 1 (confirm), then
    stays on the line until Asterisk hangs up after the goodbye (or hangs up at once)."""
    from hotline.pbx.sipp import Dtmf, HangUp, Pause, place_call

    steps: list[Any] = [Pause(5000), Dtmf("1"), Pause(6000), Dtmf("1")]
    if hang_up:
        steps += [Pause(200), HangUp()]
    callers.tasks[number] = asyncio.create_task(place_call(
        target=f"127.0.0.1:{callers.svc.settings.asterisk.sip_port}", caller_id=number,
        steps=steps, wait_for_bye_ms=40000, timeout=90))


async def callback_of(svc: Service, number: str, timeout: float = 40) -> CallbackRow:
    row = None
    async with asyncio.timeout(timeout):
        while row is None:
            call = await call_row(svc, number)
            if call is not None:
                async with svc.sessionmaker() as s:
                    row = await s.scalar(select(CallbackRow).where(CallbackRow.call_id == call.id))
            if row is None:
                await asyncio.sleep(0.2)
    return row


async def reload(svc: Service, row: CallbackRow) -> CallbackRow:
    async with svc.sessionmaker() as s:
        fresh = await s.get(CallbackRow, row.id)
    assert fresh is not None
    return fresh


async def test_a_waiting_caller_asks_for_a_callback_keeps_her_place_and_is_called_back(
    asterisk: AsteriskInstance, e2e_settings: Settings, tmp_path: Path
) -> None:
    async with callback_service(e2e_settings, tmp_path) as svc, operator(svc, "1001") as busy, \
            caller_phone(CALLER_ANSWERS) as phone:
        callers = Callers(svc, asterisk)
        try:
            callers.call(A)  # the only operator takes A: from now on everybody waits
            assert await answered_by(svc, A) == await op_id(svc, "1001")
            ask_callback(callers, B)  # B waits first ...
            first = await next_announcement(svc, B)
            assert first["text"].endswith("To be called back, keeping your place, press 1."), first
            callers.call(C)  # ... then C
            await next_announcement(svc, C)
            cb = await callback_of(svc, B)
            assert (cb.kind, cb.number, cb.state, cb.queue) == ("callback", B, "pending",
                                                               svc.settings.asterisk.pool_queue)
            assert cb.queue_joined_at is not None and cb.queue_joined_at < cb.requested_at
            # B heard the goodbye and the call ended as a callback request, not an abandoned call
            await until(lambda: _outcome(svc, B, "callback_requested"))
            assert (await call_row(svc, C)).answered_at is None  # type: ignore[union-attr]
            # B's request stands ahead of C (who joined after her) and counts once, both before
            # its Local channel is in the queue and once it is: C's place is 2 of 2
            await until(lambda: _place_of(svc, C, (2, 2)))
            await until(lambda: _leg_in_queue(svc, cb.id))
            assert await _place_of(svc, C, (2, 2)), _places(svc)

            # an operator becomes free: her phone rings for B's callback first, ahead of C
            async with sipp_operator(svc, "1002") as op:
                await until(lambda: _state(svc, cb, "answered"), timeout=60)  # while they talk
                answered = await reload(svc, cb)
                assert answered.closed_at is None and answered.answered_at is not None
                await until(lambda: _closed(svc, cb), timeout=30)  # the caller hung up
                done = await reload(svc, cb)
                assert done.state == "answered"
                froms = operator_invites(op)
                assert froms and froms[0].startswith('"Callback: Unknown, waited'), froms
                assert phone.invites() and phone.invites()[0].startswith(f"sip:{B}@"), phone.invites()
                assert done.answered_by_id == await op_id(svc, "1002")
                assert done.requested_at < done.operator_rang_at < done.placed_at < done.answered_at
                assert done.attempts == 1 and done.closed_at is not None
                # the call's record shows the request and the callback (time, who answered)
                async with svc.sessionmaker() as s:
                    events = {e.kind: e.data for e in (await s.scalars(select(CallEventRow).where(
                        CallEventRow.call_id == done.call_id))).all()}
                assert "callback.requested" in events
                assert events["callback.answered"]["operator_id"] == done.answered_by_id
                # C, who joined after B but is still on the line, was not answered first
                assert (await call_row(svc, C)).answered_at is None  # type: ignore[union-attr]
            del busy
        finally:
            await callers.close()


def _places(svc: Service) -> list[tuple[str, int, int, int | None]]:
    """(uniqueid, place, waiting in line, callback id) of everyone in the service's room."""
    room = svc.router.waiting  # type: ignore[union-attr]
    return [(key, room.position(key), room.waiting_count(q), cb)
            for key, (q, cb) in ((k, (e.queue, e.waiting.callback))
                                 for k, e in room._entries.items() if e.answered is None)]


async def _place_of(svc: Service, number: str, want: tuple[int, int]) -> bool:
    """The place and line length the caller's next announcement would say."""
    call = await call_row(svc, number)
    room = svc.router.waiting  # type: ignore[union-attr]
    for w in room.snapshot():
        if call is not None and w.call_id == call.id:
            est = room.estimate(w.uniqueid)
            return est is not None and (est.position, est.waiting) == want
    return False


async def _leg_in_queue(svc: Service, callback_id: int) -> bool:
    return any(cb == callback_id for *_r, cb in _places(svc))


async def test_a_callback_the_caller_does_not_answer_is_retried_then_failed(
    asterisk: AsteriskInstance, e2e_settings: Settings, tmp_path: Path
) -> None:
    async with callback_service(e2e_settings, tmp_path) as svc, operator(svc, "1001"), \
            caller_phone(CALLER_IGNORES, calls=2) as phone:
        callers = Callers(svc, asterisk)
        try:
            callers.call(D)
            assert await answered_by(svc, D) == await op_id(svc, "1001")
            ask_callback(callers, E, hang_up=True)  # confirms and hangs up at once
            cb = await callback_of(svc, E)
            await until(lambda: _outcome(svc, E, "callback_requested"))
            async with sipp_operator(svc, "1002", calls=2):
                await until(lambda: _state(svc, cb, "failed"), timeout=90)
            failed = await reload(svc, cb)
            assert failed.attempts == 2 and failed.reason == "callback_failed: noanswer", failed.reason
            assert failed.closed_at is not None and failed.answered_at is None
            assert len(phone.invites()) == 2 and all(i.startswith(f"sip:{E}@") for i in phone.invites())
            async with svc.sessionmaker() as s:
                kinds = (await s.scalars(select(CallEventRow.kind).where(
                    CallEventRow.call_id == failed.call_id))).all()
            assert "callback.requested" in kinds and "callback.failed" in kinds
            # QA sees it in the list of failed callbacks
            async with api_client(svc, "qa") as client:
                r = await client.get("/api/callbacks", params={"state": "failed"})
                assert r.status_code == 200
                assert any(x["id"] == cb.id and x["reason"] == "callback_failed: noanswer"
                           for x in r.json())
        finally:
            await callers.close()


async def test_click_to_call_rings_the_team_leads_phone_then_the_caller(
    asterisk: AsteriskInstance, e2e_settings: Settings, tmp_path: Path
) -> None:
    async with callback_service(e2e_settings, tmp_path) as svc, \
            caller_phone(CALLER_ANSWERS) as phone:
        callers = Callers(svc, asterisk)
        try:
            # an abandoned call: the caller hangs up while waiting (nobody is logged in)
            from hotline.pbx.sipp import HangUp, Pause, place_call

            await place_call(target=f"127.0.0.1:{svc.settings.asterisk.sip_port}", caller_id=A,
                             steps=[Pause(3000), HangUp()], timeout=30)
            call = await call_row(svc, A)
            assert call is not None and call.answered_at is None
            lead = "1005"  # the demo team lead; the qa user is linked to her below
            async with svc.sessionmaker() as s, s.begin():
                from backoffice.models import UserRow

                user = await s.scalar(select(UserRow).where(UserRow.username == "qa"))
                assert user is not None
                user.operator_id = await op_id(svc, lead)
            async with sipp_operator(svc, lead) as op, api_client(svc, "qa") as client:
                assert (await client.post("/api/callbacks/click-to-call",
                                          json={"call_id": 10**9})).status_code == 404
                assert (await client.post("/api/callbacks/click-to-call",
                                          json={"call_id": "x"})).status_code == 422
                r = await client.post("/api/callbacks/click-to-call", json={"call_id": call.id})
                assert r.status_code == 200, r.text
                assert r.json()["extension"] == lead
                rid = r.json()["callback_id"]
                async with asyncio.timeout(60):
                    while True:
                        rows = (await client.get("/api/callbacks")).json()
                        row = next(x for x in rows if x["id"] == rid)
                        if row["state"] in ("answered", "failed"):
                            break
                        await asyncio.sleep(0.3)
                assert row["state"] == "answered", row
                assert row["kind"] == "click_to_call" and row["requested_by"] == "qa"
                assert row["answered_by_id"] == await op_id(svc, lead)
                froms = operator_invites(op)
                assert froms and froms[0].startswith('"Call back: '), froms
                assert phone.invites() and phone.invites()[0].startswith(f"sip:{A}@")
        finally:
            await callers.close()


async def _outcome(svc: Service, number: str, outcome: str) -> bool:
    row = await call_row(svc, number)
    return row is not None and row.outcome == outcome


async def _state(svc: Service, cb: CallbackRow, state: str) -> bool:
    return (await reload(svc, cb)).state == state


async def _closed(svc: Service, cb: CallbackRow) -> bool:
    return (await reload(svc, cb)).closed_at is not None


def silence_wav(seconds: int = 120) -> Path:
    """A silent microphone for the team lead's softphone: what she records is only what she hears."""
    import wave

    path = Path(tempfile.gettempdir()) / f"hotline-silence-{seconds}s.wav"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\0\0" * 8000 * seconds)
        tmp.rename(path)
    return path


def tone_share(pcm: bytes, rate: int, freqs: tuple[float, ...]) -> float:
    """The share of the signal's power at `freqs` (+-15 Hz): near 1 for a ring tone made of them."""
    import numpy as np

    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    hz = np.fft.rfftfreq(len(x), 1 / rate)
    total = float(spectrum[hz > 50].sum())
    near = sum(float(spectrum[(hz > f - 15) & (hz < f + 15)].sum()) for f in freqs)
    return near / total if total else 0.0


# the caller's phone rings 4 s before she answers (and sends no audio once she has); her
# network sends no 180 Ringing (as some mobile networks do): the ringback is the service's own
CALLER_ANSWERS_LATE = re.sub(r"<send>\s*<!\[CDATA\[\s*SIP/2.0 180 Ringing.*?</send>", "", CALLER_ANSWERS,
                             count=1, flags=re.S).replace('<pause milliseconds="1000"/>',
                                                          '<pause milliseconds="4000"/>')
assert "180 Ringing" not in CALLER_ANSWERS_LATE


async def test_a_team_lead_clicks_to_call_her_phone_rings_first_and_she_hears_ringback(
    asterisk: AsteriskInstance, e2e_settings: Settings, tmp_path: Path
) -> None:
    """Issue 11: "a list of abandoned calls and failed callbacks that a team lead can call back
    from the page (click-to-call: the service rings the team lead's phone, then the caller)".
    A user with the team_lead role, linked to team lead 1005: her click rings her own phone
    (she cannot name another), then the caller; while the caller's phone rings she hears
    ringback (Asterisk's ring tone, 440+480 Hz), which stops when the caller answers."""
    import secrets
    import uuid

    import httpx

    from backoffice.auth import create_user
    from backoffice.models import Role
    from hotline.pbx.sipp import HangUp, Pause, place_call
    from voicebot.audio import dbfs, read_wav

    lead = "1005"
    async with callback_service(e2e_settings, tmp_path) as svc, \
            caller_phone(CALLER_ANSWERS_LATE) as phone:
        await place_call(target=f"127.0.0.1:{svc.settings.asterisk.sip_port}", caller_id=F,
                         steps=[Pause(3000), HangUp()], timeout=30)  # abandoned while waiting
        await svc.store.writes.flush()
        call = await call_row(svc, F)
        assert call is not None and call.answered_at is None
        name, password = f"lead-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
        await create_user(svc.sessionmaker, name, password, Role.TEAM_LEAD,
                          operator_id=await op_id(svc, lead))
        rec = tmp_path / "lead-rec"
        her = Baresip(lead, f"demo-pass-{lead}", svc.settings.asterisk.sip_port,
                      source_wav=silence_wav(), record_dir=rec)
        await her.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.settings.service.http_port}") as client:
                r = await client.post("/api/auth/login", json={"username": name, "password": password})
                assert r.status_code == 200 and r.json()["user"]["role"] == "team_lead", r.text
                client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
                listed = (await client.get("/api/wallboard/abandoned")).json()["items"]
                assert call.id in [i["call_id"] for i in listed]  # the list she calls back from
                r = await client.post("/api/callbacks/click-to-call",
                                      json={"call_id": call.id, "operator_id": await op_id(svc, "1001")})
                assert r.status_code == 403, r.text  # not somebody else's phone
                r = await client.post("/api/callbacks/click-to-call", json={"call_id": call.id})
                assert r.status_code == 200 and r.json()["extension"] == lead, r.text
                rid = r.json()["callback_id"]
                async with asyncio.timeout(60):
                    while True:
                        row = next(x for x in (await client.get("/api/callbacks")).json() if x["id"] == rid)
                        if row["closed_at"] is not None or row["state"] == "failed":
                            break
                        await asyncio.sleep(0.3)
            assert row["state"] == "answered" and row["requested_by"] == name, row
            assert row["answered_by_id"] == await op_id(svc, lead)
            # her phone first (AMI saw it ring, she answered), then the caller's
            assert phone.invites() and phone.invites()[0].startswith(f"sip:{F}@"), phone.invites()
            fresh = await reload(svc, CallbackRow(id=rid))
            assert fresh.operator_rang_at is not None and fresh.placed_at is not None
            assert fresh.operator_rang_at < fresh.placed_at < fresh.answered_at  # type: ignore[operator]
            ringing_s = (fresh.answered_at - fresh.placed_at).total_seconds()  # type: ignore[operator]
            assert 3.0 < ringing_s < 8.0, ringing_s
        finally:
            await her.stop()
        heard = sorted(rec.glob("*-dec.wav"))  # what she received (baresip's sndfile)
        assert len(heard) == 1, f"baresip's recordings: {list(rec.iterdir())}"
        pcm, rate = read_wav(heard[0])  # empty when Asterisk sent her no audio at all
        second = rate * 2  # bytes per second (16-bit)
        ring = pcm[int(0.3 * second): int(1.8 * second)]  # the tone's first 2 s "on"
        assert dbfs(ring) > -35, f"silence while the caller's phone rang: {dbfs(ring):.1f} dBFS"
        assert tone_share(ring, rate, (440.0, 480.0)) > 0.8
        off = pcm[int(2.2 * second): int(3.5 * second)]  # the cadence's pause (2 s on, 4 s off)
        assert len(off) > second and dbfs(off) < -50
        # the tone covered the caller's ringing and stopped when she answered (her sipp sends
        # no audio, so from then on nothing more reached the team lead's phone)
        assert abs(len(pcm) / second - ringing_s) < 0.8, (len(pcm) / second, ringing_s)


def with_hours(dialplan: str, version: int, holiday: str | None) -> str:
    """`dialplan` with callbacks in business hours only: every day, all day (to 23:59 in the
    dialplan's timezone), but for `holiday` (YYYY-MM-DD): closed."""
    hours = 'business_hours:\n  mon-sun: "00:00-23:59"\n' + (f"holidays: [{holiday}]\n" if holiday else "")
    out = dialplan.replace("business_hours_only: false", "business_hours_only: true")
    out = out.replace("version: 1\n", f"version: {version}\n").replace("nodes:\n", hours + "nodes:\n")
    assert "business_hours_only: true" in out and "mon-sun" in out
    return out


async def test_a_callback_asked_while_closed_waits_for_the_opening(
    asterisk: AsteriskInstance, e2e_settings: Settings, tmp_path: Path
) -> None:
    """Issue 11: "Callbacks outside business hours wait for the opening (configurable)".
    Today is a holiday in the dialplan (callbacks in business hours only): a confirmed request
    is stored but not dialled, though an operator is free; an admin uploads the dialplan
    without the holiday (the hours now open) and the request is placed: the operator's phone
    rings, then the caller's."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Europe/Moscow")).date().isoformat()
    if datetime.now(ZoneInfo("Europe/Moscow")).strftime("%H:%M") >= "23:58":
        pytest.skip("the dialplan's hours end at 23:59: too close to midnight in Moscow")
    closed = with_hours(DIALPLAN, 1, today)
    async with callback_service(e2e_settings, tmp_path, closed) as svc, \
            caller_phone(CALLER_ANSWERS) as phone:
        assert svc.callbacks is not None
        cfg = svc.callbacks.config()
        assert cfg.hours is not None and not cfg.hours.is_open(svc.callbacks.clock())
        callers = Callers(svc, asterisk)
        try:
            ask_callback(callers, G, hang_up=True)  # nobody is logged in: she waits, asks, hangs up
            cb = await callback_of(svc, G)
            await until(lambda: _outcome(svc, G, "callback_requested"))
            async with sipp_operator(svc, "1002") as op:
                await svc.presence.wait_for("1002", Presence.AVAILABLE, timeout=10)
                # closed: the dispatcher's rounds (every second) leave it pending, nobody rings
                assert await svc.callbacks.dispatch_once() == []
                for _ in range(3):
                    svc.callbacks.wake()
                    await asyncio.sleep(1.0)  # rounds of the running dispatcher, which must not place it
                    assert await svc.callbacks.dispatch_once() == []
                still = await reload(svc, cb)
                assert (still.state, still.attempts, still.placed_at, still.operator_rang_at) == (
                    "pending", 0, None, None)
                assert cb.id not in svc.callbacks.legs and not operator_invites(op) and not phone.invites()
                # the admin takes the holiday out: the hours are open, the request goes now
                async with api_client(svc, "admin") as admin:
                    r = await admin.post("/api/dialplans/upload",
                                         json={"content": with_hours(DIALPLAN, 2, None), "by": "admin"})
                    assert r.status_code in (200, 201), r.text
                assert svc.callbacks.config().hours.is_open(svc.callbacks.clock())  # type: ignore[union-attr]
                await until(lambda: _closed(svc, cb), timeout=60)
                done = await reload(svc, cb)
                assert done.state == "answered" and done.attempts == 1, (done.state, done.reason)
                assert done.answered_by_id == await op_id(svc, "1002")
                assert done.requested_at < done.operator_rang_at < done.placed_at < done.answered_at  # type: ignore[operator]
                froms = operator_invites(op)
                assert froms and froms[0].startswith('"Callback: '), froms
                assert phone.invites() and phone.invites()[0].startswith(f"sip:{G}@"), phone.invites()
        finally:
            await callers.close()
