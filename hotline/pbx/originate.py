"""Start a callback's two legs on Asterisk's control socket (docs/decisions/0008).

`channel originate Local/<id>@hotline-callback/n extension <id>@hotline-callback-caller`:
one half of the Local channel runs [hotline-callback] (the service rings the operator), the
other, once the first has answered, [hotline-callback-caller] (the service dials the caller
when the operator has answered).  Both run FastAGI sessions of the service.  The only value
in the command is the callback's row id (digits); the number to dial never is: the service
gives it to Dial() over AGI after checking it.

Why the control socket and not AMI `Originate`: the AMI user has no `originate` class
(hotline.pbx.asterisk.AMI_WRITE; with it the AMI secret could start any dialplan application
on any channel, AGI included); the socket's file permissions admit Asterisk's group only, as
for the wait announcements (hotline.pbx.whisper).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from hotline.pbx.console import run_command

OPERATOR_CONTEXT = "hotline-callback"
CALLER_CONTEXT = "hotline-callback-caller"
CONTEXTS = (OPERATOR_CONTEXT, CALLER_CONTEXT)
_FAILED = re.compile(r"(?i)unable|no such|failed|usage|error")


def originate_command(callback_id: int) -> str:
    if not isinstance(callback_id, int) or isinstance(callback_id, bool) or not 0 < callback_id < 10**12:
        raise ValueError(f"not a callback id: {callback_id!r}")
    return (f"channel originate Local/{callback_id}@{OPERATOR_CONTEXT}/n "
            f"extension {callback_id}@{CALLER_CONTEXT}")


class Originator:
    def __init__(self, control_socket: Path | Callable[[], Path]):
        self._socket = control_socket

    async def start(self, callback_id: int) -> bool:
        """True if Asterisk took the command (the legs then arrive over FastAGI)."""
        sock = self._socket() if callable(self._socket) else self._socket
        out = await run_command(sock, originate_command(callback_id))
        return not _FAILED.search(out)
