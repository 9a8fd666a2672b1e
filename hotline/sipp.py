"""Scripted SIP callers with sipp: the demo call (`hotline call`) and the test suite.

A caller script is a list of steps (`Pause(ms)`, `Dtmf("123#")`, `Audio(pcap)`), turned
into a sipp XML scenario: INVITE with the given caller ID, RTP after the answer, RFC 2833
DTMF from the pcap files sipp ships, then either wait for Asterisk's BYE or hang up.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

PCAP_DIR = Path("/usr/share/sip-tester")
_DTMF_FILE = {**{d: f"dtmf_2833_{d}.pcap" for d in "0123456789"}, "#": "dtmf_2833_pound.pcap",
              "*": "dtmf_2833_star.pcap"}


@dataclass(frozen=True)
class Pause:
    ms: int


@dataclass(frozen=True)
class Dtmf:
    digits: str
    gap_ms: int = 400  # between digits (each pcap lasts ~ 250 ms)


@dataclass(frozen=True)
class Audio:
    pcap: str  # path to a pcap with RTP (e.g. /usr/share/sip-tester/g711a.pcap)
    ms: int = 0  # how long to let it play before the next step


@dataclass(frozen=True)
class HangUp:
    """The caller hangs up (sends BYE) here instead of waiting for Asterisk's."""


Step = Pause | Dtmf | Audio | HangUp


@dataclass
class CallResult:
    ok: bool
    returncode: int
    stdout: str
    stderr: str
    scenario: str
    messages: str = ""
    stats: dict[str, str] = field(default_factory=dict)


def sipp_available() -> bool:
    return shutil.which("sipp") is not None


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dtmf_actions(digits: str, gap_ms: int) -> str:
    out = []
    for d in digits:
        if d not in _DTMF_FILE:
            raise ValueError(f"no RFC 2833 pcap for {d!r}")
        out.append(
            f'  <nop><action><exec play_pcap_audio="{PCAP_DIR / _DTMF_FILE[d]}"/></action></nop>\n'
            f'  <pause milliseconds="{gap_ms}"/>\n'
        )
    return "".join(out)


def build_scenario(caller_id: str, display_name: str | None, steps: list[Step],
                   wait_for_bye_ms: int = 30000) -> str:
    """A UAC scenario. Caller ID goes through XML escaping and a strict charset."""
    if not re.fullmatch(r"[+0-9A-Za-z._-]{1,40}", caller_id):
        raise ValueError(f"unsafe caller id {caller_id!r}")
    name = f'"{escape(display_name)}" ' if display_name else ""
    body = []
    hang_up = False
    for st in steps:
        if isinstance(st, Pause):
            body.append(f'  <pause milliseconds="{st.ms}"/>\n')
        elif isinstance(st, Dtmf):
            body.append(_dtmf_actions(st.digits, st.gap_ms))
        elif isinstance(st, Audio):
            body.append(f'  <nop><action><exec play_pcap_audio="{escape(st.pcap)}"/></action></nop>\n')
            if st.ms:
                body.append(f'  <pause milliseconds="{st.ms}"/>\n')
        elif isinstance(st, HangUp):
            hang_up = True
            break
    if hang_up:
        ending = f"""  <send>
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: [cseq] BYE
      Contact: <sip:{caller_id}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""
    else:
        ending = f"""  <recv request="BYE" timeout="{wait_for_bye_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{caller_id}@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
"""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="hotline caller">
  <send retrans="500" start_rtd="1">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: {name}<sip:{caller_id}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{caller_id}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 0 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="1" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:{caller_id}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
{''.join(body)}{ending}
  <ResponseTimeRepartition value="10, 20, 50, 100, 200, 500, 1000"/>
  <CallLengthRepartition value="1000, 5000, 10000, 30000"/>
</scenario>
"""


async def place_call(
    *, target: str = "127.0.0.1:5060", service: str = "100", caller_id: str = "sipp",
    display_name: str | None = None, steps: list[Step] | None = None,
    timeout: float = 60, wait_for_bye_ms: int = 30000, workdir: Path | None = None,
) -> CallResult:
    """Place one call with sipp and wait for it to end."""
    scenario = build_scenario(caller_id, display_name, steps or [], wait_for_bye_ms)
    wd = Path(workdir or tempfile.mkdtemp(prefix="hotline-sipp-"))
    wd.mkdir(parents=True, exist_ok=True)
    xml = wd / "caller.xml"
    xml.write_text(scenario)
    port, mport = free_udp_port(), free_udp_port()
    cmd = [
        "sipp", target, "-sf", str(xml), "-s", service, "-m", "1", "-l", "1",
        "-i", "127.0.0.1", "-p", str(port), "-mp", str(mport),
        "-timeout", f"{int(timeout)}s", "-timeout_error", "-nostdin", "-trace_err", "-trace_msg",
        "-message_file", str(wd / "messages.log"), "-error_file", str(wd / "errors.log"),
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=wd,
        env={**os.environ, "TERM": "dumb"},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout + 15)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    msgs = (wd / "messages.log").read_text(errors="replace") if (wd / "messages.log").exists() else ""
    return CallResult(proc.returncode == 0, proc.returncode or 0, out.decode(errors="replace"),
                      err.decode(errors="replace"), scenario, msgs)
