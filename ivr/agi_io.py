"""AGI commands the IVR needs beyond `hotline.pbx.agi.AgiChannel`'s typed helpers.

`GET DATA` answers `200 result=<digits>[ (timeout)]`, where the digits may start with 0 or
contain `*`: `AgiChannel.get_data` parses the result as an integer (losing leading zeros,
refusing `*`, dropping digits typed before a timeout), so the IVR reads the raw line here.
`AgiChannel.command_line()` gives the raw line; this module parses it the IVR's way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hotline.pbx.agi import DIGITS, AgiChannel, AgiError, AgiHangup, quote

_GET_DATA = re.compile(r"^(\d{3})(?: result=(\S*))?(?:\s+\((\w+)\))?")


@dataclass(frozen=True)
class Collected:
    digits: str  # DTMF keys only; never anything else
    timed_out: bool


async def command_line(chan: AgiChannel, cmd: str, timeout: float | None) -> str:
    """Send one command and return its raw reply line (hang-ups raise AgiHangup)."""
    return await chan.command_line(cmd, timeout)


def parse_get_data(line: str) -> Collected:
    m = _GET_DATA.match(line.strip())
    if not m:
        raise AgiError(f"unparseable GET DATA reply {line!r}")
    code, result, note = m.groups()
    if code == "511":
        raise AgiHangup("command on a dead channel")
    if code != "200":
        raise AgiError(f"GET DATA failed: {line}")
    result = result or ""
    if result == "-1":
        raise AgiHangup("channel hung up during GET DATA")
    # whatever Asterisk sends back, only DTMF keys go on (never into another command)
    return Collected("".join(c for c in result if c in DIGITS), note == "timeout")


async def get_data(chan: AgiChannel, name: str, timeout_ms: int, max_digits: int) -> Collected:
    """Play `name` (any key interrupts) and collect up to `max_digits`; `#` ends early."""
    cmd = f"GET DATA {quote(name)} {int(timeout_ms)} {int(max_digits)}"
    line = await command_line(chan, cmd, timeout=timeout_ms / 1000 * (max_digits + 1) + 300)
    try:
        return parse_get_data(line)
    except AgiHangup:
        chan.hung_up = True
        raise
