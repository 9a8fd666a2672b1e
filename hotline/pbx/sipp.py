"""Scripted SIP callers with sipp: the demo call (`hotline call`) and the test suite.

A caller script is a list of steps (`Pause(ms)`, `Dtmf("123#")`, `Audio(pcap)`), turned
into a sipp XML scenario: INVITE with the given caller ID, RTP after the answer, RFC 4733
DTMF, then either wait for Asterisk's BYE or hang up.

Each Dtmf step is a pcap written for the scenario (`hotline.pbx.rtp_pcap`): one RTP stream per
call whose sequence numbers and timestamps go on from step to step, so repeated keys and
keys in any order all register (sipp's own dtmf_2833_<d>.pcap files cannot do that).
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

from hotline.pbx.rtp_pcap import EVENT_MS, EVENTS, DtmfStream

PCAP_DIR = Path("/usr/share/sip-tester")


@dataclass(frozen=True)
class Pause:
    ms: int


@dataclass(frozen=True)
class Dtmf:
    """Keys sent as RFC 4733 events: one every EVENT_MS (160 ms) + gap_ms; the scenario
    goes on gap_ms after the last key ends."""

    digits: str
    gap_ms: int = 400  # silence after each key

    def __post_init__(self) -> None:
        bad = [d for d in self.digits if d.upper() not in EVENTS]
        if bad or not self.digits:
            raise ValueError(f"no RFC 4733 event for {self.digits!r}")

    @property
    def ms(self) -> int:
        return len(self.digits) * (EVENT_MS + max(0, self.gap_ms))


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


def _play(pcap: Path | str) -> str:
    return f'  <nop><action><exec play_pcap_audio="{escape(str(pcap))}"/></action></nop>\n'


def build_scenario(caller_id: str, display_name: str | None, steps: list[Step],
                   wait_for_bye_ms: int = 30000, media_dir: Path | None = None,
                   stream: DtmfStream | None = None) -> str:
    """A UAC scenario. Caller ID goes through XML escaping and a strict charset.

    Dtmf steps are written as `media_dir/dtmf-<n>.pcap`, numbered on from one `stream`
    (a new one per scenario unless given).  sipp plays one pcap at a time per call and
    cancels the one playing when the next starts, so a Dtmf step waits for its keys to be
    sent; only a last Dtmf step that Asterisk answers with BYE does not (a pause there
    could catch the BYE, which sipp counts as an unexpected message).
    """
    if not re.fullmatch(r"[+0-9A-Za-z._-]{1,300}", caller_id):
        raise ValueError(f"unsafe caller id {caller_id!r}")
    name = f'"{escape(display_name)}" ' if display_name else ""
    body = []
    hang_up = False
    stream = stream or DtmfStream()
    for i, st in enumerate(steps):
        if isinstance(st, Pause):
            body.append(f'  <pause milliseconds="{st.ms}"/>\n')
        elif isinstance(st, Dtmf):
            if media_dir is None:
                raise ValueError("Dtmf steps need a media_dir for their pcap files")
            pcap = media_dir / f"dtmf-{i}.pcap"
            stream.write_step(pcap, st.digits, st.gap_ms)
            body.append(_play(pcap))
            if i < len(steps) - 1:
                body.append(f'  <pause milliseconds="{st.ms}"/>\n')
        elif isinstance(st, Audio):
            body.append(_play(st.pcap))
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
      [routes]
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
      [routes]
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
    local_ip: str = "127.0.0.1",
) -> CallResult:
    """Place one call with sipp and wait for it to end."""
    wd = Path(workdir or tempfile.mkdtemp(prefix="hotline-sipp-"))
    wd.mkdir(parents=True, exist_ok=True)
    scenario = build_scenario(caller_id, display_name, steps or [], wait_for_bye_ms, media_dir=wd)
    xml = wd / "caller.xml"
    xml.write_text(scenario)
    port, mport = free_udp_port(), free_udp_port()
    cmd = [
        "sipp", target, "-sf", str(xml), "-s", service, "-m", "1", "-l", "1",
        "-i", local_ip, "-p", str(port), "-mp", str(mport),
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
    except asyncio.CancelledError:  # the caller gives up: sipp must not outlive the call
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    msgs = (wd / "messages.log").read_text(errors="replace") if (wd / "messages.log").exists() else ""
    return CallResult(proc.returncode == 0, proc.returncode or 0, out.decode(errors="replace"),
                      err.decode(errors="replace"), scenario, msgs)
