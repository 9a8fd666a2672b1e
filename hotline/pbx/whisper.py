"""Say a rendered prompt to a caller where they are (waiting in Queue()), over their music.

`channel originate Local/<prompt>@hotline-announce/n application ChanSpy <caller>,qwEs` on
Asterisk's control socket (hotline.pbx.console; the AMI user has no `originate` right, see
hotline.pbx.asterisk.AMI_WRITE): one half of the Local channel plays the prompt from the
instance's prompt directory (extensions.conf.j2 [hotline-announce]), the other whispers what
it hears to the caller (ChanSpy `w`), quietly (`q`), and ends with either (`E`, `s`).  The caller
never leaves the queue.  docs/decisions/0006-queue-announcements.md says why this way.

Only names the service made go into the command: the prompt is a 32-hex-digit file name in
the prompt directory, the caller a channel name of conservative characters.

At most `CONSOLE_SLOTS` commands are on the control socket at once: Asterisk listens on it
with a backlog of 2 (main/asterisk.c), and a connection beyond the backlog is not refused
but left unconnected, which asyncio reports as connected; its first read then fails with
EINVAL ("cannot use .../asterisk.ctl: Invalid argument"). With 150 callers waiting that lost
49 of 750 announcements (tests/bench/bench_queue.py) before the limit.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

from hotline.pbx.console import ConsoleError, run_command

ANNOUNCE_CONTEXT = "hotline-announce"
LISTEN_CONTEXT = "hotline-listen"  # AudioSocket to the voice bot (the callback offer hears)
_LISTENER = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_PROMPT = re.compile(r"^[0-9a-f]{32}$")
_CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.@\-]{0,120}$")
CONSOLE_SLOTS = 2  # Asterisk's listen backlog on the control socket


class Whisperer:
    def __init__(self, control_socket: Path | Callable[[], Path], prompts_inside: str,
                 slots: int = CONSOLE_SLOTS):
        self._socket = control_socket
        self.prompts_inside = prompts_inside.rstrip("/")  # the prompt directory as Asterisk sees it
        self._slots = asyncio.Semaphore(slots)  # commands on the control socket at once

    async def _run(self, command: str) -> str:
        async with self._slots:
            return await run_command(self.socket(), command)

    def socket(self) -> Path:
        s = self._socket
        return s() if callable(s) else s

    def command_for(self, channel: str, sound: str) -> str | None:
        """The CLI command that whispers `sound` (a Playback target) to `channel`; None when
        either is not a name the service made."""
        directory, _, stem = sound.rpartition("/")
        if directory != self.prompts_inside or not _PROMPT.fullmatch(stem):
            return None
        if not _CHANNEL.fullmatch(channel):
            return None
        return (f"channel originate Local/{stem}@{ANNOUNCE_CONTEXT}/n "
                f"application ChanSpy {channel},qwEs")

    async def say(self, channel: str, sound: str) -> bool:
        command = self.command_for(channel, sound)
        if command is None:
            raise ValueError("not a prompt or channel the service made")
        return await self._originate(command)

    def spy_command(self, channel: str, listener: str) -> str | None:
        """The CLI command that has `listener` (a uuid the service made) hear what `channel`
        says: ChanSpy `o` (only the caller's own audio, not their music), quiet, ending with
        the caller (`E`, `S`); None for names the service did not make."""
        if not _CHANNEL.fullmatch(channel) or not _LISTENER.fullmatch(listener):
            return None
        return (f"channel originate Local/{listener}@{LISTEN_CONTEXT}/n "
                f"application ChanSpy {channel},qoES")

    async def spy(self, channel: str, listener: str) -> bool:
        command = self.spy_command(channel, listener)
        if command is None:
            raise ValueError("not a channel or listener the service made")
        return await self._originate(command)

    async def _originate(self, command: str) -> bool:
        """Run a `channel originate` command; False if Asterisk's answer says it failed."""
        out = await self._run(command)
        return not re.search(r"(?i)unable|no such|failed|usage", out)

    async def stop(self, channel: str) -> None:
        """End any whisper to `channel` (the caller was answered mid-sentence)."""
        if not _CHANNEL.fullmatch(channel):
            return
        try:
            listing = await self._run("core show channels concise")
        except ConsoleError:
            return
        for line in listing.splitlines():
            fields = line.split("!")
            # the whispers only (qwEs), not a listener's spy (qoES), which goes on hearing
            if len(fields) > 6 and fields[5] == "ChanSpy" and fields[6] == channel + ",qwEs":
                spy = fields[0]
                if _CHANNEL.fullmatch(spy.replace(";", "")):
                    try:
                        await self._run(f"channel request hangup {spy}")
                    except ConsoleError:
                        pass
