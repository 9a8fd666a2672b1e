"""One CLI command over Asterisk's control socket (what `asterisk -rx` does), without chroot.

The service reloads res_pjsip through here: over AMI that reload needs the `system` or
`config` class, and either one makes the AMI secret a shell (see hotline.pbx.asterisk.AMI_WRITE).
The socket is a file in the instance's run directory, owned by Asterisk's user and group with
mode 0660 (asterisk.conf [files]): only root and members of that group can reach it, whatever
they know; nothing on the network can.

Protocol (main/asterisk.c, netconsole and ast_remotecontrol): Asterisk greets with one line
`host/pid/version`; the client sends `cli quit after <command>` and a NUL; Asterisk writes the
command's output and closes the connection.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

MAX_OUTPUT = 1 << 20


class ConsoleError(Exception):
    """The control socket could not be reached, or the command did not complete."""


async def run_command(socket: Path, command: str, timeout: float = 10.0) -> str:  # noqa: ASYNC109
    """Run one CLI command and return its output (console colour codes removed)."""
    if not command or "\0" in command or "\n" in command:
        raise ValueError("one CLI command, without NUL or newline")
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(str(socket))
            try:
                await reader.readline()  # host/pid/version
                writer.write(f"cli quit after {command}\0".encode())
                await writer.drain()
                out = await reader.read(MAX_OUTPUT)
                while chunk := await reader.read(MAX_OUTPUT):
                    if len(out) < MAX_OUTPUT:
                        out += chunk
            finally:
                writer.close()
    except TimeoutError:
        raise ConsoleError(f"{command!r}: no answer on {socket} within {timeout:g}s") from None
    except OSError as exc:
        raise ConsoleError(f"{command!r}: cannot use {socket}: {exc.strerror or exc}") from None
    return _plain(out.decode("utf-8", "replace"))


def _plain(text: str) -> str:
    """Without the terminal escape sequences and NULs the console puts around its output."""
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]|\x00", "", text)
