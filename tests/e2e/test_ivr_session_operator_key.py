"""Time to a human on the real Asterisk: 0 from the first second, no language question for
callers whose language is known.

The full service (IVR on the demo dialplan + routing) and sipp callers; operators are baresip
phones that answer.  Everything is asserted from what the service stored for the call (its
path, its events, the routing attempts), not from timings: a key pressed 1 s after the
answer lands in the greeting (its first prompt runs for seconds), and the stored
`ivr.greeting_cut` event names the greeting prompt it cut.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from callrouting.tables import CallAttemptRow
from directory.tables import OperatorRow
from hotline.app.service import Service
from hotline.db.calls import CallEventRow, CallRow
from hotline.pbx.sipp import Dtmf, HangUp, Pause, Step, place_call, sipp_available
from tests.e2e.conftest import api_client
from tests.e2e.test_routing_chain import phones

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")

MARIA = "+79161234567"  # VIP, personal manager 1001 (Anna Petrova); no stored language
UNKNOWN = "+79035550147"  # not in the directory
STORED_RU = "+79167770011"  # made by the test through the admin API, language ru
CHOOSER = "+79167770022"  # made by the test, no language: chooses Russian on the first call


async def call(service: Service, caller: str, steps: list[Step], timeout: float = 40) -> None:
    res = await place_call(target=f"127.0.0.1:{service.settings.asterisk.sip_port}",
                           caller_id=caller, steps=steps, timeout=timeout)
    assert res.ok, res.stderr[-2000:] + res.messages[-2000:]


async def stored(service: Service, caller: str, after: int = 0) -> CallRow:
    """The caller's latest call, once the session has stored its end."""
    async with asyncio.timeout(15):
        while True:
            async with service.sessionmaker() as s:
                row = await s.scalar(select(CallRow).where(CallRow.caller_id_raw == caller,
                                                           CallRow.id > after)
                                     .order_by(CallRow.id.desc()).limit(1))
            if row is not None and row.ended_at is not None:
                return row
            await asyncio.sleep(0.1)


async def last_id(service: Service) -> int:
    async with service.sessionmaker() as s:
        return (await s.scalar(select(CallRow.id).order_by(CallRow.id.desc()).limit(1))) or 0


async def events(service: Service, call_id: int, kind: str) -> list[CallEventRow]:
    async with service.sessionmaker() as s:
        return list((await s.scalars(select(CallEventRow).where(
            CallEventRow.call_id == call_id, CallEventRow.kind == kind)
            .order_by(CallEventRow.id))).all())


async def attempts(service: Service, call_id: int) -> list[tuple[str, list[str], str | None, str | None]]:
    async with service.sessionmaker() as s:
        rows = (await s.scalars(select(CallAttemptRow).where(CallAttemptRow.call_id == call_id)
                                .order_by(CallAttemptRow.id))).all()
        exts = {o.id: o.extension for o in (await s.scalars(select(OperatorRow))).all()}
    return [(a.reason, list(a.targets), a.outcome, exts.get(a.answered_by_id or 0)) for a in rows]


def steps_of(row: CallRow) -> list[tuple[str, str]]:
    return [(p["node"], p["detail"]) for p in row.path]


def greeting_texts(service: Service, known_name: str | None, language: str = "en") -> list[str]:
    g = service.ivr.current_dialplan().greeting
    assert g is not None
    first = (g.known if known_name else g.unknown) or []
    texts = [i.say[language] for i in [*first, *g.rating_notice]]  # type: ignore[index]
    return [t.replace("{caller_name}", known_name or "") for t in texts]


ZERO_IN_THE_GREETING = [Pause(1000), Dtmf("0", gap_ms=0), Pause(7000), HangUp()]


@pytest.mark.parametrize(
    "caller, name, operator, routed",
    [(UNKNOWN, None, "1006", ("pool", ["hotline-pool"])),
     (MARIA, "Maria Ivanova", "1001", ("personal_manager", ["1001"]))],
    ids=["unknown_to_pool", "vip_to_her_manager"],
)
async def test_zero_one_second_into_the_greeting_reaches_a_person(
    service: Service, caller: str, name: str | None, operator: str, routed: tuple[str, list[str]]
) -> None:
    before = await last_id(service)
    async with phones(service, [(operator, True)]):
        await call(service, caller, ZERO_IN_THE_GREETING)
    row = await stored(service, caller, before)
    path = steps_of(row)
    # straight from the language menu (the greeting is its first part) to the operator:
    # no language chosen, no menu timing out, no retry
    assert path[1:3] == [("choose_language", ""), ("operator", "operator_key")], path
    assert not any("no input" in d or d.startswith("language") for _, d in path), path
    cuts = [e.data for e in await events(service, row.id, "ivr.greeting_cut")]
    assert cuts == [{"key": "0", "prompt": 0, "heard": greeting_texts(service, name)[0]}], path
    [transfer] = await events(service, row.id, "ivr.transfer")
    assert transfer.data["via"] == "operator_key"
    reason, targets = routed
    tried = await attempts(service, row.id)
    assert tried == [(reason, targets, "answered", operator)], (tried, path)
    assert ("(transfer answered)", "") in path


async def test_known_language_skips_the_menu_and_a_key_choice_is_remembered(
    service: Service,
) -> None:
    async with api_client(service, "admin") as api:
        made = []
        for body in ({"number": STORED_RU, "name": "Olga Testova", "language": "ru"},
                     {"number": CHOOSER, "name": "Pavel Testov"}):
            r = await api.post("/api/admin/callers", json=body)
            assert r.status_code == 201, r.text
            made.append(r.json()["id"])
        bad = await api.post("/api/admin/callers", json={
            "number": "+79167770033", "name": "Bad Language", "language": "russian"})
        assert bad.status_code == 422, bad.text  # the directory's one language rule
        try:
            # 1. the language stored in the directory: not asked; greeted in Russian; 0 cuts it
            before = await last_id(service)
            await call(service, STORED_RU, [Pause(1000), Dtmf("0", gap_ms=0), Pause(2000), HangUp()])
            row = await stored(service, STORED_RU, before)
            path = steps_of(row)
            assert path[1:4] == [("choose_language", ""),
                                 ("choose_language", "language ru known (directory), not asked"),
                                 ("route", "language ru")], path
            [cut] = await events(service, row.id, "ivr.greeting_cut")
            assert cut.data["heard"] == greeting_texts(service, "Olga Testova", "ru")[0]
            assert any(node.startswith("operator") for node, _ in path[4:]), path

            # 2. no stored language: 2 pressed during the greeting chooses Russian ...
            before = await last_id(service)
            await call(service, CHOOSER, [Pause(1000), Dtmf("2", gap_ms=0), Pause(1500), HangUp()])
            first = await stored(service, CHOOSER, before)
            assert steps_of(first)[1:3] == [("choose_language", ""), ("route", "language ru")]
            assert first.language == "ru"
            # ... and the next call is not asked again
            await call(service, CHOOSER, [Pause(1500), HangUp()])
            second = await stored(service, CHOOSER, first.id)
            assert steps_of(second)[1:4] == [
                ("choose_language", ""),
                ("choose_language", "language ru known (last_call), not asked"),
                ("route", "language ru")]
            assert second.language is None  # nothing chosen on this call
        finally:
            for caller_id in made:
                r = await api.delete(f"/api/admin/callers/{caller_id}")
                assert r.status_code == 204, r.text
