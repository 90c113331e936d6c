"""The agent wire protocol: version range, frame layout, frame decoder and error codes.

One definition for both ends: the guest agent and the host client (`atelier.runtime.agent`)
import this module. A connection is a byte stream of frames (see docs/agent-protocol.md):

    magic 2 | type 1 | flags 1 | stream 4 | length 4 | crc32(bytes 0..11) 4 | payload

Structured payloads are `codec` messages; DATA payloads are raw bytes. The decoder skips
garbage (a virtio-serial port may hand it the tail of a previous connection) by searching for
the magic and checking the header CRC, and it refuses frames longer than `MAX_PAYLOAD`.
Bump `PROTOCOL_VERSION` on every behaviour change; raise `MIN_COMPATIBLE_VERSION` when the host
stops speaking to older agents.
"""

from __future__ import annotations

import binascii
import struct

from atelier.guest import codec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# 2: `file.watch` (change notifications). Version 1 agents are still accepted: the host
# speaks their dialect and falls back to reading files when `file.watch` is unknown.
PROTOCOL_VERSION = 2
MIN_COMPATIBLE_VERSION = 1

PORT_NAME = "org.atelier.agent"  # virtio-serial port name
VSOCK_PORT = 1024

MAGIC = b"\xa7\x1e"
HEADER = struct.Struct(">2sBBII")  # magic, type, flags, stream, length; then crc32
HEADER_SIZE = HEADER.size + 4
MAX_PAYLOAD = 1 << 20  # any frame
MAX_DATA_CHUNK = 64 << 10  # DATA frames a sender produces
INITIAL_WINDOW = 256 << 10  # per stream and channel, both directions

# Frame types.
HELLO = 1  # stream 0, both directions: version handshake
REQUEST = 2  # host -> agent: opens a stream {op, token, args}
RESPONSE = 3  # agent -> host: final {ok, result | error}; closes the stream
EVENT = 4  # both: a structured message on an open stream
DATA = 5  # both: raw bytes on channel `flags`
EOF = 6  # both: no more DATA on channel `flags`
WINDOW = 7  # both: u32 more bytes the sender may send on channel `flags`
CANCEL = 8  # host -> agent: abandon the stream
FRAME_NAMES = {
    HELLO: "HELLO", REQUEST: "REQUEST", RESPONSE: "RESPONSE", EVENT: "EVENT",
    DATA: "DATA", EOF: "EOF", WINDOW: "WINDOW", CANCEL: "CANCEL",
}  # fmt: skip

# DATA channels.
CH_IN = 0  # host -> agent: stdin, upload, terminal input
CH_OUT = 1  # agent -> host: stdout, download, terminal output
CH_ERR = 2  # agent -> host: stderr

# Error codes carried in RESPONSE {"ok": false, "error": {"code", "message", "field"?, "hint"?}}.
E_UNAUTHORIZED = "unauthorized"
E_HANDSHAKE = "handshake_required"
E_INCOMPATIBLE = "incompatible_version"
E_BAD_REQUEST = "bad_request"
E_UNKNOWN_OP = "unknown_op"
E_NOT_FOUND = "not_found"
E_EXISTS = "exists"
E_NOT_A_DIRECTORY = "not_a_directory"
E_IS_A_DIRECTORY = "is_a_directory"
E_PERMISSION = "permission_denied"
E_TOO_LARGE = "too_large"
E_NO_SPACE = "no_space"
E_CONFLICT = "conflict"
E_UNSUPPORTED = "unsupported"
E_EXEC_FAILED = "exec_failed"
E_TIMEOUT = "timeout"
E_CANCELLED = "cancelled"
E_FLOW = "flow_control"
E_IO = "io_error"
E_INTERNAL = "internal"


class ProtocolError(Exception):
    """The peer broke the framing or message rules."""


class FrameTooLarge(ProtocolError):
    """A frame announced (or a caller built) a payload over the maximum size."""

    def __init__(self, length: int, limit: int, stream: int = 0) -> None:
        super().__init__(f"frame payload of {length} bytes exceeds the {limit}-byte limit")
        self.length = length
        self.limit = limit
        self.stream = stream


class Frame:
    """One decoded frame."""

    __slots__ = ("flags", "payload", "stream", "type")

    def __init__(self, ftype: int, stream: int, payload: bytes, flags: int = 0) -> None:
        self.type = ftype
        self.stream = stream
        self.payload = payload
        self.flags = flags

    def message(self) -> dict[str, Any]:
        """The payload decoded as a codec map."""
        try:
            value = codec.unpack(self.payload)
        except codec.CodecError as exc:
            raise ProtocolError(f"bad {self.name} payload: {exc}") from None
        if not isinstance(value, dict):
            raise ProtocolError(f"{self.name} payload must be a map, got {type(value).__name__}")
        return value

    @property
    def name(self) -> str:
        return FRAME_NAMES.get(self.type, f"type {self.type}")

    def __repr__(self) -> str:
        return (
            f"Frame({self.name}, stream={self.stream}, flags={self.flags}, {len(self.payload)} B)"
        )


def encode_frame(ftype: int, stream: int, payload: bytes = b"", flags: int = 0) -> bytes:
    """Header plus payload, ready to write."""
    if len(payload) > MAX_PAYLOAD:
        raise FrameTooLarge(len(payload), MAX_PAYLOAD, stream)
    head = HEADER.pack(MAGIC, ftype, flags, stream, len(payload))
    return head + struct.pack(">I", binascii.crc32(head)) + payload


def encode_message(ftype: int, stream: int, message: dict[str, Any], flags: int = 0) -> bytes:
    """A frame whose payload is a codec message."""
    return encode_frame(ftype, stream, codec.pack(message), flags)


def encode_window(stream: int, channel: int, increment: int) -> bytes:
    """A WINDOW frame granting `increment` more bytes on `channel`."""
    return encode_frame(WINDOW, stream, struct.pack(">I", increment), channel)


def window_increment(frame: Frame) -> int:
    """The credit a WINDOW frame grants."""
    if len(frame.payload) != 4:
        raise ProtocolError(f"WINDOW payload must be 4 bytes, got {len(frame.payload)}")
    value: int = struct.unpack(">I", frame.payload)[0]
    return value


class FrameDecoder:
    """Incremental decoder: `feed()` bytes, then call `next_frame()` until it returns None.

    Bytes that do not start a valid header (wrong magic or CRC) are skipped and counted in
    `discarded`; a valid header announcing more than `max_payload` bytes is consumed and
    reported as `FrameTooLarge`, after which decoding resumes at the next header.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.discarded = 0
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif self._pos > 1 << 16:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def reset(self) -> None:
        """Forget buffered bytes (the peer went away mid-frame)."""
        self._buf.clear()
        self._pos = 0

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def next_frame(self) -> Frame | None:
        buf = self._buf
        while len(buf) - self._pos >= HEADER_SIZE:
            pos = self._pos
            head = bytes(buf[pos : pos + HEADER.size])
            crc = struct.unpack_from(">I", buf, pos + HEADER.size)[0]
            if head[:2] != MAGIC or binascii.crc32(head) != crc:
                self._skip_garbage()
                continue
            _, ftype, flags, stream, length = HEADER.unpack(head)
            if length > self.max_payload:
                self._pos = pos + HEADER_SIZE
                raise FrameTooLarge(length, self.max_payload, stream)
            end = pos + HEADER_SIZE + length
            if end > len(buf):
                return None
            self._pos = end
            return Frame(ftype, stream, bytes(buf[pos + HEADER_SIZE : end]), flags)
        return None

    def _skip_garbage(self) -> None:
        nxt = self._buf.find(MAGIC, self._pos + 1)
        if nxt < 0:  # keep a last byte that may be the first half of the magic
            nxt = max(self._pos + 1, len(self._buf) - 1)
        self.discarded += nxt - self._pos
        self._pos = nxt


def decode_all(data: bytes) -> list[Frame]:
    """Every complete frame in `data` (tests and tools)."""
    decoder = FrameDecoder()
    decoder.feed(data)
    frames = []
    while (frame := decoder.next_frame()) is not None:
        frames.append(frame)
    return frames


def compatible(version: int, lowest: int, highest: int) -> bool:
    """The one compatibility rule: an agent speaking `version` suits a host range."""
    return lowest <= version <= highest


def error_body(
    code: str, message: str, *, field: str | None = None, hint: str | None = None
) -> dict[str, Any]:
    """The `error` map of a failed RESPONSE."""
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    if hint is not None:
        body["hint"] = hint
    return body
