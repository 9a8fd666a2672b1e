"""Every key a sipp caller presses reaches Asterisk and the service: repeated keys, keys in
any order, keys across several Dtmf steps (each step a pcap numbered on from the last)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hotline.app.service import Service
from hotline.app.settings import Settings
from hotline.pbx.agi import AgiChannel, AgiHangup
from hotline.pbx.asterisk import AsteriskInstance
from hotline.pbx.sipp import Dtmf, Pause, Step, place_call, sipp_available

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")


@dataclass
class Keys:
    """What each GET DATA returned, and every key Asterisk received from the caller (its
    `full` log's DTMF lines: the service's AMI user does not read the dtmf event class)."""

    log: Path
    start: int
    agi: list[str] = field(default_factory=list)

    @property
    def asterisk(self) -> list[str]:
        with self.log.open("rb") as f:
            f.seek(self.start)
            text = f.read().decode(errors="replace")
        return re.findall(r"DTMF end '(.)' received on PJSIP/", text)


@pytest.fixture
async def keys(asterisk: AsteriskInstance, e2e_settings: Settings) -> AsyncIterator[Keys]:
    full = asterisk.dir / "log" / "full"
    seen = Keys(full, full.stat().st_size if full.exists() else 0)

    async def collect(chan: AgiChannel) -> None:
        """GET DATA until 3 s pass with no key: '#' ends one entry, as in the IVR."""
        try:
            await chan.answer()
            while True:
                got = await chan.get_data("silence/1", 3000, 20)
                if got is None:
                    break
                seen.agi.append(got)
            await chan.hangup()
        except AgiHangup:
            pass

    svc = Service(e2e_settings, handler=collect)
    await svc.start()
    try:
        await svc.ami.wait_connected(10)
        yield seen
    finally:
        await svc.stop()


async def call(target: str, steps: list[Step]) -> None:
    res = await place_call(target=target, caller_id="84950001212", steps=steps, timeout=40,
                           wait_for_bye_ms=20000)
    assert res.ok, res.stderr + res.messages[-2000:]


async def test_repeated_keys_all_register(keys: Keys, sip_target: str) -> None:
    await call(sip_target, [Pause(1000), Dtmf("1120#00", gap_ms=200)])
    assert keys.asterisk == list("1120#00")
    assert keys.agi == ["1120", "00"]


async def test_every_key_in_any_order_across_steps(keys: Keys, sip_target: str) -> None:
    """Descending order (the opposite of the shipped pcaps' numbering), then the same keys
    again in later steps, with short gaps."""
    await call(sip_target, [Pause(1000), Dtmf("*9876543210#", gap_ms=60), Pause(300),
                            Dtmf("00#", gap_ms=60), Dtmf("99*", gap_ms=60), Pause(200),
                            Dtmf("5", gap_ms=0)])
    assert "".join(keys.asterisk) == "*9876543210#00#99*5"
    assert keys.agi == ["*9876543210", "00", "99*5"]
