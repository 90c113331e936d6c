"""Frames: encoding, partial reads, garbage resynchronisation, oversize frames, versions."""

from __future__ import annotations

import os

import pytest

from atelier.guest import protocol as p


def frames() -> list[bytes]:
    return [
        p.encode_message(p.HELLO, 0, {"min": 1, "max": 1, "nonce": b"n"}),
        p.encode_message(p.REQUEST, 7, {"op": "health", "token": "t", "args": {}}),
        p.encode_frame(p.DATA, 7, os.urandom(70_000), p.CH_OUT),
        p.encode_frame(p.EOF, 7, b"", p.CH_OUT),
        p.encode_window(7, p.CH_IN, 4096),
    ]


def test_header_layout() -> None:
    raw = p.encode_frame(p.DATA, 0x01020304, b"xyz", p.CH_ERR)
    assert raw[:2] == p.MAGIC and raw[2] == p.DATA and raw[3] == p.CH_ERR
    assert raw[4:8] == b"\x01\x02\x03\x04" and raw[8:12] == b"\x00\x00\x00\x03"
    assert len(raw) == p.HEADER_SIZE + 3 and raw[-3:] == b"xyz"


def test_round_trip_in_one_piece() -> None:
    decoded = p.decode_all(b"".join(frames()))
    assert [f.type for f in decoded] == [p.HELLO, p.REQUEST, p.DATA, p.EOF, p.WINDOW]
    assert decoded[1].message()["op"] == "health"
    assert len(decoded[2].payload) == 70_000 and decoded[2].flags == p.CH_OUT
    assert p.window_increment(decoded[4]) == 4096


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_partial_reads(chunk: int) -> None:
    data = b"".join(frames())
    decoder = p.FrameDecoder()
    got = []
    for start in range(0, len(data), chunk):
        decoder.feed(data[start : start + chunk])
        while (frame := decoder.next_frame()) is not None:
            got.append(frame)
    assert [f.payload for f in got] == [f.payload for f in p.decode_all(data)]
    assert decoder.buffered == 0 and decoder.discarded == 0


def test_garbage_is_skipped_until_the_next_valid_header() -> None:
    good = frames()
    noise = b"\x00junk" + p.MAGIC + b"\x05\x00not-a-header" + good[1][: p.HEADER_SIZE - 1]
    decoder = p.FrameDecoder()
    decoder.feed(noise + good[0] + good[1])
    out = []
    while (frame := decoder.next_frame()) is not None:
        out.append(frame.type)
    assert out == [p.HELLO, p.REQUEST]
    assert decoder.discarded == len(noise)


def test_corrupted_header_crc_is_not_trusted() -> None:
    raw = bytearray(p.encode_frame(p.DATA, 1, b"payload"))
    raw[8] ^= 0xFF  # the length field
    assert p.decode_all(bytes(raw) + frames()[0])[0].type == p.HELLO


def test_oversize_frame_is_refused_and_decoding_continues() -> None:
    decoder = p.FrameDecoder(max_payload=1024)
    decoder.feed(p.encode_frame(p.DATA, 9, b"x" * 2048) + frames()[0])
    with pytest.raises(p.FrameTooLarge) as info:
        decoder.next_frame()
    assert (info.value.length, info.value.limit, info.value.stream) == (2048, 1024, 9)
    frame = decoder.next_frame()
    assert frame is not None and frame.type == p.HELLO


def test_encoding_an_oversize_frame_fails() -> None:
    with pytest.raises(p.FrameTooLarge):
        p.encode_frame(p.DATA, 1, b"x" * (p.MAX_PAYLOAD + 1))


def test_bad_message_payload_is_a_protocol_error() -> None:
    with pytest.raises(p.ProtocolError):
        p.Frame(p.REQUEST, 1, b"\xc1").message()
    with pytest.raises(p.ProtocolError, match="map"):
        p.Frame(p.REQUEST, 1, b"\x01").message()


def test_version_rule() -> None:
    assert p.MIN_COMPATIBLE_VERSION <= p.PROTOCOL_VERSION
    assert p.compatible(p.PROTOCOL_VERSION, p.MIN_COMPATIBLE_VERSION, p.PROTOCOL_VERSION)
    assert not p.compatible(
        p.MIN_COMPATIBLE_VERSION - 1, p.MIN_COMPATIBLE_VERSION, p.PROTOCOL_VERSION
    )
    assert not p.compatible(p.PROTOCOL_VERSION + 1, p.MIN_COMPATIBLE_VERSION, p.PROTOCOL_VERSION)
