"""Probe for speech in the callback offer (docs/decisions/0008, addendum): can the voice of a
caller waiting in Queue() reach the service over AudioSocket without taking her out of the
queue?  A spy Local channel: `channel originate Local/<uuid>@<listen ctx>/n application
ChanSpy <caller>,qoES` - one half spies on what the caller says (`o`: her side only, not her
music), the other runs AudioSocket(<uuid>) to a server of the test.  The caller is a baresip
phone whose microphone is a 440 Hz tone; nobody answers, so she stays in the pool queue."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid
from pathlib import Path

import pytest

from hotline.app.settings import Settings
from hotline.pbx.asterisk import AsteriskInstance
from hotline.pbx.console import run_command
from hotline.pbx.sipp import sipp_available
from tests.e2e.peers import Baresip, free_tcp_port
from tests.e2e.test_callrouting_callbacks import callback_service, tone_share
from voicebot.audio import dbfs

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")


class Listener:
    """An AudioSocket server (type, 16-bit length, payload): the uuid, then 8 kHz slin audio."""

    def __init__(self) -> None:
        self.port = free_tcp_port()
        self.uuid: uuid.UUID | None = None
        self.audio = bytearray()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                kind, n = struct.unpack(">BH", await reader.readexactly(3))
                payload = await reader.readexactly(n)
                if kind == 0x01:
                    self.uuid = uuid.UUID(bytes=payload)
                elif kind == 0x10:
                    self.audio += payload
                elif kind == 0x00:
                    break
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_a_waiting_callers_voice_reaches_an_audiosocket_while_she_keeps_her_place(
    asterisk: AsteriskInstance, e2e_settings: Settings, tmp_path: Path
) -> None:
    listener = Listener()
    await listener.start()
    local = asterisk.dir / "etc" / "extensions_local.conf"
    local.write_text("[hotline-listen-probe]\n"
                     "exten => _[0-9a-f].,1,Answer()\n"
                     f" same => n,AudioSocket(${{EXTEN}},127.0.0.1:{listener.port})\n"
                     " same => n,Hangup()\n")
    sock = asterisk.control_socket
    try:
        async with callback_service(e2e_settings, tmp_path) as svc:
            await run_command(sock, "dialplan reload")
            caller = Baresip("1003", "demo-pass-1003", svc.settings.asterisk.sip_port)
            await caller.start()
            try:
                await caller.dial(f"sip:{svc.settings.asterisk.hotline_extension}@127.0.0.1:"
                                  f"{svc.settings.asterisk.sip_port}")
                pool = svc.settings.asterisk.pool_queue
                chan = None
                async with asyncio.timeout(20):
                    while chan is None:
                        for line in (await run_command(sock, "core show channels concise")).splitlines():
                            f = line.split("!")
                            if len(f) > 6 and f[5] == "Queue" and f[0].startswith("PJSIP/1003-"):
                                chan = f[0]
                        await asyncio.sleep(0.2)
                call = uuid.uuid4()
                out = await run_command(sock, f"channel originate Local/{call}@hotline-listen-probe/n "
                                              f"application ChanSpy {chan},qoES")
                assert "unable" not in out.lower(), out
                async with asyncio.timeout(15):
                    while len(listener.audio) < 16000 * 3:  # 3 s of her voice
                        await asyncio.sleep(0.1)
                assert listener.uuid == call
                heard = bytes(listener.audio[16000:16000 * 3])
                assert dbfs(heard) > -40, dbfs(heard)
                assert tone_share(heard, 8000, (440.0,)) > 0.8  # her microphone, not her music
                # she never left the queue
                shown = await run_command(sock, f"queue show {pool}")
                assert "PJSIP/1003-" in shown, shown
            finally:
                await caller.stop()
    finally:
        local.unlink(missing_ok=True)
        await run_command(sock, "dialplan reload")
        await listener.stop()
