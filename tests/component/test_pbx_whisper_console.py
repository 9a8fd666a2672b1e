"""The whisperer on a control socket that speaks Asterisk's console protocol (a greeting line,
`cli quit after <command>` NUL, the output, close): never more than two commands at once,
Asterisk's listen backlog on that socket (a connection beyond it is left unconnected and its
first read fails with EINVAL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hotline.pbx.whisper import CONSOLE_SLOTS, Whisperer

HEX = "0123456789abcdef0123456789abcdef"


async def test_whispers_queue_for_the_control_socket(tmp_path: Path) -> None:
    path = tmp_path / "asterisk.ctl"
    now = peak = 0
    commands: list[str] = []

    async def console(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        try:
            writer.write(b"test/1/Asterisk 22\n")
            await writer.drain()
            commands.append((await reader.readuntil(b"\0"))[:-1].decode())
            await asyncio.sleep(0.05)  # Asterisk busy with the originate
            writer.write(b"\x1b[0;37mok\x1b[0m\n")
            await writer.drain()
        finally:
            now -= 1
            writer.close()

    server = await asyncio.start_unix_server(console, path=str(path))
    try:
        w = Whisperer(path, "/srv/hotline/t/sounds/prompts")
        said = await asyncio.gather(*(w.say(f"PJSIP/test-caller-{i:08x}",
                                            f"/srv/hotline/t/sounds/prompts/{HEX}")
                                      for i in range(20)))
    finally:
        server.close()
        await server.wait_closed()
    assert said == [True] * 20
    assert len(commands) == 20 and all(c.startswith("cli quit after channel originate Local/")
                                       for c in commands)
    assert peak == CONSOLE_SLOTS == 2
