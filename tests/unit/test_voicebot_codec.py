import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.codec import (
    MAX_PAYLOAD,
    AudioFrame,
    CodecError,
    DtmfFrame,
    ErrorFrame,
    FrameDecoder,
    HangupFrame,
    UuidFrame,
    decode_all,
    encode,
)

pytestmark = pytest.mark.unit

CALL_ID = uuid.UUID("40325ec2-5efd-4bd3-805f-53576e581d13")


def test_encode_known_bytes():
    assert encode(HangupFrame()) == b"\x00\x00\x00"
    assert encode(UuidFrame(CALL_ID)) == b"\x01\x00\x10" + CALL_ID.bytes
    assert encode(DtmfFrame("#")) == b"\x03\x00\x01#"
    assert encode(AudioFrame(b"\x01\x02" * 160)) == b"\x10\x01\x40" + b"\x01\x02" * 160
    assert encode(ErrorFrame()) == b"\xff\x00\x00"
    assert encode(ErrorFrame(3)) == b"\xff\x00\x01\x03"


def test_typical_call_start():
    data = encode(UuidFrame(CALL_ID)) + encode(AudioFrame(bytes(320))) + encode(DtmfFrame("5"))
    assert decode_all(data) == [UuidFrame(CALL_ID), AudioFrame(bytes(320)), DtmfFrame("5")]


def test_partial_frame_waits_for_more():
    dec = FrameDecoder()
    wire = encode(AudioFrame(bytes(320)))
    assert dec.feed(wire[:1]) == []
    assert dec.feed(wire[1:100]) == []
    assert dec.buffered == 100
    assert dec.feed(wire[100:]) == [AudioFrame(bytes(320))]
    assert dec.buffered == 0


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x02\x00\x00", "unknown frame type 0x02"),
        (b"\x11\x00\x00", "unknown frame type 0x11"),
        (b"\x00\x00\x01x", "hangup frame must have length 0, got 1"),
        (b"\x01\x00\x0f" + bytes(15), "UUID frame must have length 16, got 15"),
        (b"\x01\x00\x11", "UUID frame must have length 16, got 17"),
        (b"\x03\x00\x02", "DTMF frame must have length 1, got 2"),
        (b"\x03\x00\x00", "DTMF frame must have length 1, got 0"),
        (b"\x03\x00\x01x", "invalid digit byte 0x78"),
        (b"\x03\x00\x01\xff", "invalid digit byte 0xff"),
        (b"\x10\x00\x03", "odd payload length 3"),
        (b"\xff\x00\x02", "error frame must have length 0 or 1, got 2"),
    ],
)
def test_bad_frames_raise_clear_errors(wire, message):
    with pytest.raises(CodecError, match=message):
        FrameDecoder().feed(wire)


def test_bad_header_fails_before_payload_arrives():
    # an unknown type with a huge length must fail at once, not buffer 64 KiB waiting
    dec = FrameDecoder()
    with pytest.raises(CodecError):
        dec.feed(b"\x42\xff\xff")


def test_decoder_is_poisoned_after_error():
    dec = FrameDecoder()
    with pytest.raises(CodecError):
        dec.feed(b"\x42\x00\x00")
    with pytest.raises(CodecError, match="already failed"):
        dec.feed(encode(HangupFrame()))
    assert dec.buffered == 0


def test_lower_audio_limit_is_enforced():
    dec = FrameDecoder(max_payload=640)
    assert dec.feed(encode(AudioFrame(bytes(640)))) == [AudioFrame(bytes(640))]
    with pytest.raises(CodecError, match="exceeds limit of 640"):
        dec.feed(b"\x10\x02\x82")


def test_close_reports_truncated_frame():
    dec = FrameDecoder()
    dec.feed(b"\x10\x01")
    with pytest.raises(CodecError, match="stream ended inside a frame"):
        dec.close()


def test_largest_audio_frame():
    pcm = bytes(MAX_PAYLOAD - 1)
    assert decode_all(encode(AudioFrame(pcm))) == [AudioFrame(pcm)]


@pytest.mark.parametrize(
    "build",
    [
        lambda: DtmfFrame("x"),
        lambda: DtmfFrame("12"),
        lambda: AudioFrame(b"abc"),
        lambda: ErrorFrame(256),
        lambda: AudioFrame(bytes(MAX_PAYLOAD + 1)),
    ],
)
def test_invalid_frames_cannot_be_built(build):
    with pytest.raises(CodecError):
        build()


# --- properties -------------------------------------------------------------------------------

frames_st = st.one_of(
    st.just(HangupFrame()),
    st.uuids().map(UuidFrame),
    st.sampled_from("0123456789*#ABCD").map(DtmfFrame),
    st.integers(0, 400)
    .flatmap(lambda n: st.binary(min_size=2 * n, max_size=2 * n))
    .map(AudioFrame),
    st.one_of(st.none(), st.integers(0, 255)).map(ErrorFrame),
)


def chunk(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in [*points, len(data)]:
        out.append(data[prev:p])
        prev = p
    return out


@given(st.lists(frames_st, max_size=20), st.lists(st.integers(0, 10_000), max_size=30))
def test_round_trip_in_any_chunking(frames, cuts):
    wire = b"".join(encode(f) for f in frames)
    dec = FrameDecoder()
    got = []
    for part in chunk(wire, cuts):
        got += dec.feed(part)
    dec.close()
    assert got == frames


@settings(max_examples=300)
@given(st.binary(max_size=600), st.lists(st.integers(0, 10_000), max_size=30))
def test_arbitrary_bytes_give_frames_or_codec_error(data, cuts):
    def run(parts):
        dec = FrameDecoder()
        out = []
        try:
            for part in parts:
                out += dec.feed(part)
        except CodecError as exc:
            return out, exc
        assert dec.buffered <= 3 + MAX_PAYLOAD
        return out, None

    whole, whole_err = run([data])
    chunked, chunked_err = run(chunk(data, cuts))
    # chunking never changes the outcome: same frames up to the same failure
    assert (whole_err is None) == (chunked_err is None)
    if whole_err is None:
        assert chunked == whole
    else:
        assert chunked == whole[: len(chunked)]
        assert str(chunked_err) == str(whole_err)
    for frame in whole:
        assert decode_all(encode(frame)) == [frame]
