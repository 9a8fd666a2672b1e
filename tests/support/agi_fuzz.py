"""Shared by the FastAGI fuzz tests: pieces of real and broken FastAGI traffic, and a time
limit that also stops code that never yields to the event loop."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

EXAMPLE_LIMIT = 5.0  # seconds for one example, however slow the machine

# pieces of real FastAGI traffic (and of broken traffic) for the fuzzer to cut and mix
ENV_FRAGMENTS = [
    b"agi_network: yes\n", b"agi_network_script: call\n", b"agi_uniqueid: 1700000000.1\n",
    b"agi_callerid: +79161234567\n", b"agi_arg_1:\n", b"no colon here\n", b": empty key\n",
    b"agi_x: " + b"v" * 100 + b"\n", b"\r", b"\x00\x00", "agi_calleridname: Иванова\n".encode(),
]
REPLY_FRAGMENTS = [
    b"200 result=0\n", b"200 result=1 (some value)\n", b"200 result=1 ()\n", b"200 result=-1\n",
    b"200 result=49 endpos=1234\n", b"200 result=-1 endpos=0\n", b"200 result=0123*# (timeout)\n",
    b"200 result= (timeout)\n", b"200 result=99999999999999999999\n", b"200 result=1114112\n",
    b"200 result=10\n", b"200 result=-7\n", b"200\n", b"2000 result=1\n", b"\n", b"\r\n",
    b"100 result=0 Trying...\n", b"HANGUP\n", b"HANGUP", b"511 Command Not Permitted on a dead channel\n",
    b"510 Invalid or unknown command\n", b"520-Invalid command syntax.  Proper usage follows:\n",
    b" Usage: STREAM FILE <filename> <escape_digits>\n", b"520 End of proper usage.\n", b"520-\n",
    b"\xff\xfe\xfd\n", "И".encode()[:1], b"x" * 100,
    "٢٠٠ result=١ (٣)\n".encode(),  # digits of another script
]
FRAGMENTS = ENV_FRAGMENTS + REPLY_FRAGMENTS


class Hang(BaseException):  # not an Exception: nothing under test can swallow it
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Hang in the main thread after `seconds` (SIGALRM), even inside a loop that never
    awaits: an asyncio timeout cannot fire there."""

    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"no result within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
