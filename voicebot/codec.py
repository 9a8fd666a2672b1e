"""AudioSocket frame codec (bytes <-> frames), pure.

Wire format (app_audiosocket): 1 byte type, 2 bytes big-endian payload length, payload.
The decoder is incremental so the transport can feed whatever the socket returns; it keeps at
most one partial frame buffered (bounded by the 16-bit length field), and rejects anything that
Asterisk would never send with a `CodecError` instead of guessing.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

__all__ = [
    "AUDIO_FRAME_BYTES",
    "DTMF_DIGITS",
    "MAX_PAYLOAD",
    "AudioFrame",
    "CodecError",
    "DtmfFrame",
    "ErrorFrame",
    "Frame",
    "FrameDecoder",
    "FrameType",
    "HangupFrame",
    "UuidFrame",
    "decode_all",
    "encode",
]

HEADER = struct.Struct(">BH")
MAX_PAYLOAD = 0xFFFF
AUDIO_FRAME_BYTES = 320  # 20 ms of 8 kHz signed 16-bit linear
DTMF_DIGITS = frozenset("0123456789*#ABCD")


class FrameType:
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


class CodecError(ValueError):
    """The byte stream is not valid AudioSocket; the connection should be dropped."""


@dataclass(frozen=True, slots=True)
class HangupFrame:
    pass


@dataclass(frozen=True, slots=True)
class UuidFrame:
    uuid: uuid.UUID


@dataclass(frozen=True, slots=True)
class DtmfFrame:
    digit: str

    def __post_init__(self) -> None:
        if self.digit not in DTMF_DIGITS or len(self.digit) != 1:
            raise CodecError(f"invalid DTMF digit {self.digit!r}; expected one of 0-9 * # A-D")


@dataclass(frozen=True, slots=True)
class AudioFrame:
    pcm: bytes

    def __post_init__(self) -> None:
        if len(self.pcm) % 2:
            raise CodecError(f"audio payload has odd length {len(self.pcm)}; 16-bit samples")
        if len(self.pcm) > MAX_PAYLOAD:
            raise CodecError(f"audio payload of {len(self.pcm)} bytes exceeds {MAX_PAYLOAD}")


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    code: int | None = None

    def __post_init__(self) -> None:
        if self.code is not None and not 0 <= self.code <= 0xFF:
            raise CodecError(f"error code {self.code} does not fit in one byte")


Frame = HangupFrame | UuidFrame | DtmfFrame | AudioFrame | ErrorFrame


def encode(frame: Frame) -> bytes:
    """Serialize one frame to wire bytes."""
    if isinstance(frame, HangupFrame):
        kind, payload = FrameType.HANGUP, b""
    elif isinstance(frame, UuidFrame):
        kind, payload = FrameType.UUID, frame.uuid.bytes
    elif isinstance(frame, DtmfFrame):
        kind, payload = FrameType.DTMF, frame.digit.encode("ascii")
    elif isinstance(frame, AudioFrame):
        kind, payload = FrameType.AUDIO, bytes(frame.pcm)
    elif isinstance(frame, ErrorFrame):
        kind = FrameType.ERROR
        payload = b"" if frame.code is None else bytes([frame.code])
    else:
        raise TypeError(f"not an AudioSocket frame: {frame!r}")
    return HEADER.pack(kind, len(payload)) + payload


def _parse(kind: int, payload: bytes) -> Frame:
    n = len(payload)
    if kind == FrameType.AUDIO:
        if n % 2:
            raise CodecError(f"audio frame has odd payload length {n}; expected 16-bit samples")
        return AudioFrame(payload)
    if kind == FrameType.HANGUP:
        if n:
            raise CodecError(f"hangup frame must have length 0, got {n}")
        return HangupFrame()
    if kind == FrameType.UUID:
        if n != 16:
            raise CodecError(f"UUID frame must have length 16, got {n}")
        return UuidFrame(uuid.UUID(bytes=payload))
    if kind == FrameType.DTMF:
        if n != 1:
            raise CodecError(f"DTMF frame must have length 1, got {n}")
        digit = chr(payload[0])
        if digit not in DTMF_DIGITS:
            raise CodecError(f"DTMF frame carries invalid digit byte 0x{payload[0]:02x}")
        return DtmfFrame(digit)
    if kind == FrameType.ERROR:
        if n > 1:
            raise CodecError(f"error frame must have length 0 or 1, got {n}")
        return ErrorFrame(payload[0] if n else None)
    raise CodecError(f"unknown frame type 0x{kind:02x}")


_FIXED_LENGTHS: dict[int, tuple[str, frozenset[int], str]] = {
    FrameType.HANGUP: ("hangup", frozenset({0}), "0"),
    FrameType.UUID: ("UUID", frozenset({16}), "16"),
    FrameType.DTMF: ("DTMF", frozenset({1}), "1"),
    FrameType.ERROR: ("error", frozenset({0, 1}), "0 or 1"),
}


class FrameDecoder:
    """Incremental decoder: feed raw bytes, get the complete frames they finish.

    Headers are validated as soon as they arrive (so garbage fails fast rather than waiting for
    up to 64 KiB of "payload"). After a `CodecError` the decoder is poisoned: the stream has lost
    framing and every later `feed` raises again.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buf = bytearray()
        self._max_payload = max_payload
        self._error: CodecError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame (never more than header + max payload)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        if self._error is not None:
            raise CodecError(f"decoder already failed: {self._error}")
        self._buf += data
        frames: list[Frame] = []
        try:
            while len(self._buf) >= HEADER.size:
                kind, length = HEADER.unpack_from(self._buf)
                self._check_header(kind, length)
                end = HEADER.size + length
                if len(self._buf) < end:
                    break
                payload = bytes(self._buf[HEADER.size : end])
                del self._buf[:end]
                frames.append(_parse(kind, payload))
        except CodecError as exc:
            self._error = exc
            self._buf.clear()
            raise
        return frames

    def _check_header(self, kind: int, length: int) -> None:
        if kind == FrameType.AUDIO:
            if length % 2:
                raise CodecError(
                    f"audio frame has odd payload length {length}; expected 16-bit samples"
                )
            if length > self._max_payload:
                raise CodecError(
                    f"audio frame of {length} bytes exceeds limit of {self._max_payload}"
                )
            return
        spec = _FIXED_LENGTHS.get(kind)
        if spec is None:
            raise CodecError(f"unknown frame type 0x{kind:02x}")
        name, allowed, expected = spec
        if length not in allowed:
            raise CodecError(f"{name} frame must have length {expected}, got {length}")

    def close(self) -> None:
        """End of stream: raise if a frame was cut off mid-way."""
        if self._buf and self._error is None:
            n = len(self._buf)
            self._buf.clear()
            raise CodecError(f"stream ended inside a frame ({n} bytes left over)")


def decode_all(data: bytes) -> list[Frame]:
    """Decode a complete byte string (tests, recorded fixtures)."""
    decoder = FrameDecoder()
    frames = decoder.feed(data)
    decoder.close()
    return frames
