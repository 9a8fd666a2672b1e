"""RFC 4733 DTMF as libpcap files for sipp's `play_pcap_audio`, one RTP stream per call.

sipp's shipped `dtmf_2833_<d>.pcap` files carry fixed sequence numbers and timestamps, and
Asterisk drops a telephone-event whose timestamp is not newer than the last digit's end (and
one whose sequence number is just behind the last): a repeated digit, or digits out of the
files' order, were lost.  Here one `DtmfStream` per call numbers every packet of every
Dtmf step, so any sequence of keys registers.

What sipp reads from a pcap (src/prepare_pcap.c, send_packets.c): the link type (Ethernet
here) and EtherType, the IPv4 header's version, IHL and protocol, then the UDP header on:
`uh_ulen` bytes are replayed as they are, with the ports rebased on the lowest destination
port in the file and the UDP checksum recomputed for the real addresses.  Addresses, the IP
checksum and the file's UDP checksum are not used (we still write valid ones, so tools such
as tshark read the files cleanly).  Packet times are the pacing sipp sleeps to.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

EVENT_PT = 101
CLOCK_HZ = 8000
PACKET_MS = 20
SAMPLES = CLOCK_HZ * PACKET_MS // 1000  # 160 per 20 ms packet
TONE_PACKETS = 5  # packets with a growing duration ...
END_PACKETS = 3  # ... then the end of the event, sent three times (RFC 4733 2.5.1.4)
EVENT_MS = (TONE_PACKETS + END_PACKETS) * PACKET_MS  # 160 ms on the wire per key
VOLUME = 10  # -10 dBm0
EVENTS = {**{d: int(d) for d in "0123456789"}, "*": 10, "#": 11,
          **{c: 12 + i for i, c in enumerate("ABCD")}}

_PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # LINKTYPE_ETHERNET
_SRC_MAC, _DST_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
_SRC_IP, _DST_IP = bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])
SRC_PORT, DST_PORT = 6000, 6000  # rewritten by sipp to the call's media ports


@dataclass(frozen=True)
class RtpPacket:
    at: float  # seconds from the start of the file
    seq: int
    timestamp: int
    ssrc: int
    marker: bool
    payload_type: int
    payload: bytes

    def event(self) -> tuple[int, bool, int, int]:
        """(event, end, volume, duration) of a telephone-event payload."""
        ev, flags, duration = struct.unpack("!BBH", self.payload[:4])
        return ev, bool(flags & 0x80), flags & 0x3F, duration

    def rtp(self) -> bytes:
        b1 = (0x80 if self.marker else 0) | self.payload_type
        return struct.pack("!BBHII", 0x80, b1, self.seq, self.timestamp, self.ssrc) + self.payload


@dataclass
class DtmfStream:
    """The caller's telephone-event stream: sequence numbers and timestamps go on from one
    Dtmf step to the next (one instance per call).  Starting values are random (RFC 3550)
    but kept low enough that a call never wraps the 32-bit timestamp, which Asterisk
    compares without wrap-around."""

    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    seq: int = field(default_factory=lambda: random.randrange(0x10000))
    timestamp: int = field(default_factory=lambda: random.randrange(1 << 30))

    def step(self, digits: str, gap_ms: int) -> list[RtpPacket]:
        """Packets for `digits`: a key every EVENT_MS + gap_ms, times from 0."""
        bad = [d for d in digits if d.upper() not in EVENTS]
        if bad:
            raise ValueError(f"no RFC 4733 event for {bad[0]!r}")
        out: list[RtpPacket] = []
        period_ms = EVENT_MS + max(0, gap_ms)
        for i, d in enumerate(digits):
            start = i * period_ms / 1000
            for j in range(TONE_PACKETS + END_PACKETS):
                end = j >= TONE_PACKETS
                duration = SAMPLES * (TONE_PACKETS + 1 if end else j + 1)
                payload = struct.pack("!BBH", EVENTS[d.upper()], (0x80 if end else 0) | VOLUME,
                                      duration)
                out.append(RtpPacket(start + j * PACKET_MS / 1000, self.seq, self.timestamp,
                                     self.ssrc, j == 0, EVENT_PT, payload))
                self.seq = (self.seq + 1) & 0xFFFF
            # the next event starts where this key's time on the wire (and the gap) ends
            self.timestamp = (self.timestamp + period_ms * CLOCK_HZ // 1000) & 0xFFFFFFFF
        return out

    def write_step(self, path: Path, digits: str, gap_ms: int) -> float:
        """Write one step's pcap; returns how long sipp takes to play it (seconds)."""
        packets = self.step(digits, gap_ms)
        write_pcap(path, packets)
        return packets[-1].at + PACKET_MS / 1000 if packets else 0.0


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(rtp: bytes, sport: int = SRC_PORT, dport: int = DST_PORT, ident: int = 0) -> bytes:
    """Ethernet + IPv4 + UDP around one RTP packet."""
    ulen = 8 + len(rtp)
    pseudo = _SRC_IP + _DST_IP + struct.pack("!BBH", 0, 17, ulen)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + rtp
    ucs = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", ucs) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, ident & 0xFFFF, 0x4000, 64, 17, 0,
                     _SRC_IP, _DST_IP)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return _DST_MAC + _SRC_MAC + b"\x08\x00" + ip + udp


def write_pcap(path: Path, packets: Iterable[RtpPacket], epoch: float = 1_700_000_000.0) -> None:
    chunks = [_PCAP_HEADER]
    for i, p in enumerate(packets):
        data = frame(p.rtp(), ident=i)
        usec = round((epoch + p.at) * 1_000_000)
        chunks.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(data), len(data)))
        chunks.append(data)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(b"".join(chunks))
    tmp.replace(path)


def read_pcap(path: Path) -> Iterator[RtpPacket]:
    """The RTP packets of an Ethernet/IPv4/UDP pcap (for tests and for looking at files)."""
    data = path.read_bytes()
    magic, _, _, _, _, _, link = struct.unpack("<IHHiIII", data[:24])
    if magic != 0xA1B2C3D4 or link != 1:
        raise ValueError(f"{path}: not a microsecond Ethernet pcap")
    pos, t0 = 24, None
    while pos < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[pos:pos + 16])
        if incl != orig:
            raise ValueError(f"{path}: truncated packet at offset {pos}")
        pkt = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        t = sec + usec / 1e6
        t0 = t if t0 is None else t0
        if pkt[12:14] != b"\x08\x00":
            raise ValueError(f"{path}: not IPv4")
        ihl = (pkt[14] & 0x0F) * 4
        ip = pkt[14:14 + ihl]
        if ip[0] >> 4 != 4 or ip[9] != 17 or _checksum(ip) != 0:
            raise ValueError(f"{path}: bad IPv4/UDP header")
        udp = pkt[14 + ihl:]
        ulen = struct.unpack("!H", udp[4:6])[0]
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, ulen)
        if _checksum(pseudo + udp[:ulen]) != 0:
            raise ValueError(f"{path}: bad UDP checksum")
        rtp = udp[8:ulen]
        b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", rtp[:12])
        if b0 >> 6 != 2:
            raise ValueError(f"{path}: not RTP version 2")
        yield RtpPacket(round(t - t0, 6), seq, ts, ssrc, bool(b1 & 0x80), b1 & 0x7F, rtp[12:])
