"""RFC 4733 DTMF pcaps: written, parsed back, and numbered on across a call's steps."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from hotline.pbx.rtp_pcap import EVENT_MS, EVENTS, DtmfStream, RtpPacket, read_pcap, write_pcap
from hotline.pbx.sipp import Dtmf, HangUp, Pause, build_scenario


def events(packets: list[RtpPacket]) -> list[list[RtpPacket]]:
    """Packets grouped by RTP timestamp (one group per key press)."""
    groups: dict[int, list[RtpPacket]] = {}
    for p in packets:
        groups.setdefault(p.timestamp, []).append(p)
    return list(groups.values())


def test_one_step_round_trips_through_a_pcap_file(tmp_path: Path) -> None:
    stream = DtmfStream(ssrc=0x1234, seq=100, timestamp=8000)
    played = stream.write_step(tmp_path / "a.pcap", "1120#00", gap_ms=200)
    packets = list(read_pcap(tmp_path / "a.pcap"))
    assert len(packets) == 7 * 8
    assert {p.payload_type for p in packets} == {101} and {p.ssrc for p in packets} == {0x1234}
    assert [p.seq for p in packets] == list(range(100, 100 + 56))
    keys = events(packets)
    assert [next(k for k, v in EVENTS.items() if v == g[0].event()[0]) for g in keys] == list("1120#00")
    for g in keys:
        assert len(g) == 8
        ends = [p.event()[1] for p in g]
        assert ends == [False] * 5 + [True] * 3
        durations = [p.event()[3] for p in g]
        assert durations[:6] == sorted(set(durations[:6])) and len(set(durations[5:])) == 1
        assert [p.marker for p in g] == [True] + [False] * 7
        assert [round((p.at - g[0].at) * 1000) for p in g] == list(range(0, 160, 20))
        assert {p.event()[2] for p in g} == {10}
    starts = [g[0].at for g in keys]
    assert [round((b - a) * 1000) for a, b in zip(starts, starts[1:], strict=False)] == [EVENT_MS + 200] * 6
    assert [g[0].timestamp for g in keys] == [8000 + i * (EVENT_MS + 200) * 8 for i in range(7)]
    assert played == pytest.approx(6 * 0.36 + 0.16)


def test_steps_of_one_call_go_on_numbering(tmp_path: Path) -> None:
    stream = DtmfStream(ssrc=7, seq=0xFFF0, timestamp=1000)
    stream.write_step(tmp_path / "1.pcap", "55", 0)
    stream.write_step(tmp_path / "2.pcap", "5", 0)
    a, b = list(read_pcap(tmp_path / "1.pcap")), list(read_pcap(tmp_path / "2.pcap"))
    seqs = [p.seq for p in a + b]
    assert seqs == [(0xFFF0 + i) & 0xFFFF for i in range(24)]  # wraps, never repeats
    stamps = [g[0].timestamp for g in events(a) + events(b)]
    assert stamps == sorted(set(stamps)) and len(stamps) == 3  # a new, later one per key
    assert b[0].at == 0  # each file is paced from its own start


def test_the_file_is_what_sipp_and_tshark_expect(tmp_path: Path) -> None:
    """libpcap v2.4, Ethernet, IPv4 with IHL 5 and protocol UDP, UDP length = RTP + 8."""
    write_pcap(tmp_path / "x.pcap", DtmfStream(1, 2, 3).step("9", 0))
    data = (tmp_path / "x.pcap").read_bytes()
    assert struct.unpack("<IHHiIII", data[:24]) == (0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    incl, orig = struct.unpack("<II", data[32:40])
    assert incl == orig == 14 + 20 + 8 + 12 + 4
    pkt = data[40:40 + incl]
    assert pkt[12:14] == b"\x08\x00" and pkt[14] == 0x45 and pkt[23] == 17
    assert struct.unpack("!H", pkt[38:40])[0] == 8 + 16


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        DtmfStream().step("1x", 0)
    with pytest.raises(ValueError):
        Dtmf("12e")


def test_scenario_writes_a_pcap_per_step_and_waits_for_it(tmp_path: Path) -> None:
    xml = build_scenario("caller", None, [Pause(500), Dtmf("11", 100), Dtmf("1", 0), HangUp()],
                         media_dir=tmp_path)
    assert f'play_pcap_audio="{tmp_path}/dtmf-1.pcap"' in xml
    assert f'play_pcap_audio="{tmp_path}/dtmf-2.pcap"' in xml
    assert '<pause milliseconds="520"/>' in xml and '<pause milliseconds="160"/>' in xml
    seqs = [p.seq for f in ("dtmf-1.pcap", "dtmf-2.pcap") for p in read_pcap(tmp_path / f)]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(24)]
    # the last step before Asterisk's BYE does not pause (the BYE could land in it)
    tail = build_scenario("caller", None, [Dtmf("8", 0)], media_dir=tmp_path)
    assert "<pause" not in tail
    with pytest.raises(ValueError):
        build_scenario("caller", None, [Dtmf("1")])
