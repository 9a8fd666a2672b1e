"""Real SIP peers for end-to-end tests: baresip softphones and sipp UAS operators."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import shutil
import socket
import tempfile
from pathlib import Path

from hotline.pbx.sipp import free_udp_port


def tone_wav(seconds: int = 180) -> Path:
    """A quiet 8 kHz 440 Hz tone for a softphone's microphone (baresip hangs up when its
    file source ends, and its sine source only does 48 kHz)."""
    path = Path(tempfile.gettempdir()) / f"hotline-tone-{seconds}s.wav"
    if not path.exists():
        import math
        import struct
        import wave

        frames = b"".join(
            struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * i / 8000)))
            for i in range(8000)
        )
        tmp = path.with_suffix(".tmp")
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            for _ in range(seconds):
                w.writeframes(frames)
        tmp.rename(path)
    return path


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Below every e2e slot's ports (15000 + 1000 * slot) and below the kernel's ephemeral range
# (32768-60999 here), where a port free for UDP is often taken for TCP by the closed
# connections' TIME_WAIT sockets of the tests' HTTP and AMI clients.
PEER_PORTS = range(10000, 15000)


def free_sip_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host`: baresip listens on both at its SIP port and
    gives up ("Address already in use") if either is taken (seen in the suite with a port
    that only UDP had free)."""
    for _ in range(500):
        port = random.choice(PEER_PORTS)
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, kind) as s:
                    s.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no port free for UDP and TCP on {host} in {PEER_PORTS}")


class Baresip:
    """A baresip softphone registered as an operator, driven over ctrl_tcp (JSON netstrings)."""

    def __init__(self, extension: str, password: str, sip_port: int, *, auto_answer: bool = True,
                 source_wav: Path | None = None, record_dir: Path | None = None,
                 answer_delay_ms: int = 0, host: str = "127.0.0.1"):
        self.extension, self.password, self.sip_port = extension, password, sip_port
        self.host = host  # the registrar's address (Kamailio's in a cluster) and the phone's
        self.auto_answer = auto_answer
        self.source_wav, self.record_dir = source_wav, record_dir
        self.answer_delay_ms = answer_delay_ms
        self.dir = Path(tempfile.mkdtemp(prefix=f"baresip-{extension}-"))
        self.ctrl_port = free_tcp_port()
        self.local_port = free_sip_port(host)
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._reader_task: asyncio.Task[None] | None = None
        self._registered = asyncio.Event()
        self._line_event = asyncio.Event()

    def _write_config(self) -> None:
        modules = ["g711.so", "account.so", "menu.so", "ctrl_tcp.so", "aufile.so", "ausine.so"]
        if self.record_dir:
            modules.append("sndfile.so")
        src = f"aufile,{self.source_wav or tone_wav()}"
        cfg = [
            "poll_method epoll",
            f"sip_listen {self.host}:{self.local_port}",
            f"net_interface {self.host}",
            f"audio_source {src}",
            "audio_player aufile,/dev/null",
            "audio_alert aufile,/dev/null",
            "module_path /usr/lib/baresip/modules",
            *[f"module {m}" for m in modules],
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            "rtp_ports 40000-49999",
        ]
        if self.record_dir:
            self.record_dir.mkdir(parents=True, exist_ok=True)
            cfg.append(f"snd_path {self.record_dir}")
        (self.dir / "config").write_text("\n".join(cfg) + "\n")
        answer = "auto" if self.auto_answer else "manual"
        (self.dir / "accounts").write_text(
            f"<sip:{self.extension}@{self.host}:{self.sip_port};transport=udp>"
            f";auth_pass={self.password};answermode={answer};regint=60;ptime=20\n"
        )
        (self.dir / "contacts").write_text("")

    async def start(self, wait_registered: bool = True, timeout: float = 10) -> None:
        """Start and (by default) wait for the registrar's 200 OK. A phone whose first try
        got no answer in `timeout` s (its UDP port taken by another test slot between choosing
        and binding it, or its REGISTER lost while Asterisk reloaded PJSIP) is started once more
        on fresh ports; a second failure raises with what baresip printed."""
        await self._launch()
        if not wait_registered:
            return
        try:
            await asyncio.wait_for(self._registered.wait(), timeout)
            return
        except TimeoutError:
            first = list(self.lines)
        await self._halt()
        self.local_port, self.ctrl_port = free_sip_port(self.host), free_tcp_port()
        self.lines, self._registered = [], asyncio.Event()
        await self._launch()
        try:
            await asyncio.wait_for(self._registered.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"baresip {self.extension} did not register in two tries of {timeout} s;"
                f" first try printed: {first[-15:]}; second: {self.lines[-15:]}") from None

    async def _launch(self) -> None:
        if shutil.which("baresip") is None:
            raise RuntimeError("baresip is not installed (make deps installs baresip-core)")
        self._write_config()
        self.proc = await asyncio.create_subprocess_exec(
            "baresip", "-f", str(self.dir), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        self._reader_task = asyncio.create_task(self._read(), name=f"baresip-{self.extension}")

    async def _read(self) -> None:
        assert self.proc and self.proc.stdout
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if re.search(r"200 OK .*\[\d+ binding", line):
                self._registered.set()
            self._line_event.set()

    async def wait_for_line(self, pattern: str, timeout: float = 10) -> str:
        rx = re.compile(pattern)
        seen = 0
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines[seen:]:
                    if rx.search(line):
                        return line
                seen = len(self.lines)
                self._line_event.clear()
                await self._line_event.wait()

    async def command(self, command: str, params: str = "") -> dict:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
        try:
            body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
            writer.write(f"{len(body)}:".encode() + body + b",")
            await writer.drain()
            async with asyncio.timeout(5):
                while True:
                    header = await reader.readuntil(b":")
                    n = int(header[:-1])
                    msg = json.loads((await reader.readexactly(n + 1))[:-1])
                    if msg.get("response"):
                        return msg
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def dial(self, uri: str) -> dict:
        return await self.command("dial", uri)

    async def answer(self) -> dict:
        return await self.command("accept")

    async def hangup(self) -> dict:
        return await self.command("hangup")

    async def stop(self) -> None:
        await self._halt()
        shutil.rmtree(self.dir, ignore_errors=True)

    async def _halt(self) -> None:
        if self.proc and self.proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.command("quit")
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader_task:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
            self._reader_task = None


REGISTER_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="operator registers">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{ext}@[remote_ip]>;tag=[pid]reg[call_number]
      To: <sip:{ext}@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      Expires: 300
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{ext}@[remote_ip]>;tag=[pid]reg[call_number]
      To: <sip:{ext}@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      [authentication username={ext} password={password}]
      Expires: 300
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""

UNREGISTER_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="operator unregisters">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{ext}@[remote_ip]>;tag=[pid]unreg[call_number]
      To: <sip:{ext}@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: *
      Expires: 0
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{ext}@[remote_ip]>;tag=[pid]unreg[call_number]
      To: <sip:{ext}@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: *
      [authentication username={ext} password={password}]
      Expires: 0
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""

UAS_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="operator answers">
  <recv request="INVITE" timeout="{invite_timeout}" rrs="true">
    <action>
      <ereg regexp=";tag=([^;> ]+)" search_in="hdr" header="From:" assign_to="junk,ftag"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]op[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="{answer_delay}"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]op[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000

    ]]>
  </send>
  <recv request="ACK"/>
  <pause milliseconds="{talk_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{ext}@[local_ip]:[local_port]>;tag=[pid]op[call_number]
      To: <sip:asterisk@[remote_ip]:[remote_port]>;tag=[$ftag]
      [last_Call-ID:]
      CSeq: 1 BYE
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <Reference variables="junk"/>
</scenario>
"""


class SippOperator:
    """An operator phone made of sipp: registers with digest auth, answers one call, hangs up
    after `talk_ms` (sipp cannot take a second Call-ID in one scenario, hence two runs), and
    unregisters on stop (sipp leaves its contact registered otherwise: for 5 minutes, across
    Asterisk restarts, the operator would look available to later tests)."""

    def __init__(self, extension: str, password: str, sip_port: int, *, answer_delay_ms: int = 500,
                 talk_ms: int = 2000, invite_timeout_ms: int = 60000, calls: int = 1):
        self.extension, self.sip_port = extension, sip_port
        self.dir = Path(tempfile.mkdtemp(prefix=f"sipp-op-{extension}-"))
        (self.dir / "register.xml").write_text(REGISTER_SCENARIO.format(ext=extension, password=password))
        (self.dir / "unregister.xml").write_text(UNREGISTER_SCENARIO.format(ext=extension, password=password))
        self.registered = False
        (self.dir / "uas.xml").write_text(UAS_SCENARIO.format(
            ext=extension, answer_delay=answer_delay_ms, talk_ms=talk_ms,
            invite_timeout=invite_timeout_ms,
        ))
        self.port = free_udp_port()
        self.calls = calls  # answered one after the other (sipp -m)
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Register (one sipp run), then answer on the registered port (a second run)."""
        reg = await asyncio.create_subprocess_exec(
            "sipp", f"127.0.0.1:{self.sip_port}", "-sf", str(self.dir / "register.xml"), "-m", "1",
            "-i", "127.0.0.1", "-p", str(self.port), "-nostdin", "-timeout", "10s",
            "-timeout_error", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            cwd=self.dir,
        )
        _, err = await reg.communicate()
        if reg.returncode != 0:
            raise RuntimeError(f"sipp operator {self.extension} could not register: {err.decode()[-500:]}")
        self.registered = True
        mport = free_udp_port()
        self.proc = await asyncio.create_subprocess_exec(
            "sipp", f"127.0.0.1:{self.sip_port}", "-sf", str(self.dir / "uas.xml"), "-m", str(self.calls),
            "-i", "127.0.0.1", "-p", str(self.port), "-mp", str(mport), "-nostdin",
            "-trace_msg", "-message_file", str(self.dir / "messages.log"), "-trace_err",
            "-error_file", str(self.dir / "errors.log"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=self.dir,
        )

    def messages(self) -> str:
        p = self.dir / "messages.log"
        return p.read_text(errors="replace") if p.exists() else ""


    def answered(self) -> int:
        """Calls this operator answered (ACKs of its 200 OK)."""
        return len(re.findall(r"^ACK sip:", self.messages(), re.M))


    async def wait(self, timeout: float = 60) -> int:
        assert self.proc
        await asyncio.wait_for(self.proc.wait(), timeout)
        return self.proc.returncode or 0

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self.registered:  # best effort: Asterisk may be down (then its contact is too)
            self.registered = False
            unreg = await asyncio.create_subprocess_exec(
                "sipp", f"127.0.0.1:{self.sip_port}", "-sf", str(self.dir / "unregister.xml"), "-m", "1",
                "-i", "127.0.0.1", "-p", str(free_udp_port()), "-nostdin", "-timeout", "5s",
                "-timeout_error", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                cwd=self.dir,
            )
            await unreg.wait()
