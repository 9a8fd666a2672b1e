"""Live dialplan changes on the real Asterisk: a call in a menu finishes on its version,
the next call gets the new one, and a broken file is rejected while the last good one serves.
"""

from __future__ import annotations

import asyncio

import pytest

from hotline.pbx.sipp import Dtmf, HangUp, Pause
from tests.e2e.test_ivr_call import DEMO, Ivr, ivr, nodes  # noqa: F401,F811 - `ivr` is a fixture

pytestmark = pytest.mark.skipif(not DEMO.exists(), reason="demo dialplan missing")


async def _until(check, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


async def test_reload_while_a_call_is_in_the_menu(ivr: Ivr) -> None:  # noqa: F811
    v1 = ivr.registry.active.version_id
    to_menu = await ivr.to_main_menu()
    first = asyncio.create_task(ivr.call(
        "84950007788", [Pause(int((to_menu + 5.0) * 1000)), Dtmf("2"), Pause(3000), HangUp()]))
    try:
        async def in_menu() -> bool:
            try:
                call = await ivr.stored("84950007788")
            except AssertionError:
                return False
            return ("main_menu", "") in nodes(call)

        await _until(in_menu, timeout=to_menu + 10)
        # v2: keys 2 and 4 of the main menu swap places
        demo = DEMO.read_text()
        v2_text = demo.replace("version: 1\n", "version: 2\n").replace(
            "      2: next_draw\n", "      2: claim_rules\n", 1).replace(
            "      4: claim_rules\n", "      4: next_draw\n", 1)
        assert v2_text != demo
        ivr.dialplan_file.write_text(v2_text)

        async def switched() -> bool:
            return ivr.registry.active.version_id != v1

        await _until(switched, timeout=5)
        v2 = ivr.registry.active.version_id
        assert v2.startswith("lottery-hotline@2#")

        # a broken file: rejected with its line, v2 keeps serving
        broken = v2_text.replace("      9: goodbye\n", "      9: goodbye\n      7: nowhere\n", 1)
        ivr.dialplan_file.write_text(broken)

        async def rejected() -> bool:
            return ivr.registry.last_error is not None

        await _until(rejected, timeout=5)
        health = ivr.registry.health()
        assert health["dialplan_active"] == v2 and not health["dialplan_ok"]
        line = broken.splitlines().index("      7: nowhere") + 1
        assert any(f"hotline.yaml:{line}:" in p and "nowhere" in p
                   for p in health["dialplan_error"]["problems"]), health

        # the next call gets v2 (not the broken text, not v1)
        second = await ivr.call("84950009900", [Pause(int((to_menu + 1.0) * 1000)), Dtmf("2"),
                                                Pause(3000), HangUp()])
        assert second.ok, second.stderr + second.messages[-2000:]
        res = await first
        assert res.ok, res.stderr + res.messages[-2000:]
    finally:
        if not first.done():
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)

    old = await ivr.stored("84950007788")
    assert old.dialplan_version == v1
    assert ("next_draw", "key 2") in nodes(old)  # finished on the version it started with
    new = await ivr.stored("84950009900")
    assert new.dialplan_version == v2
    assert ("claim_rules", "key 2") in nodes(new)
    stored = {v.version_id: v for v in await ivr.registry.versions()}
    assert {v1, v2} <= set(stored) and stored[v2].active and stored[v2].source == "file"
    # an admin can roll back to the version the first call ran
    back = await ivr.registry.rollback()
    assert back.version_id == v1 and ivr.registry.active.version_id == v1
