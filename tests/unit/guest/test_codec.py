"""The MessagePack-subset codec: round trips at every size boundary, and strict refusals."""

from __future__ import annotations

import pytest

from atelier.guest.codec import CodecError, pack, unpack

VALUES = [
    None, True, False, 0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1,
    -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63),
    0.0, 1.5, -2.25e300, "", "a" * 31, "b" * 32, "é" * 200, "c" * 70000,
    b"", b"\x00\xff" * 10, b"x" * 300, b"y" * 70000, [], [1, [2, [3]]], list(range(20)),
    {}, {"k": "v"}, {str(i): i for i in range(20)}, {"nested": {"bytes": b"\x00", "list": [None]}},
]  # fmt: skip


@pytest.mark.parametrize("value", VALUES, ids=lambda v: repr(v)[:40])
def test_round_trip(value: object) -> None:
    assert unpack(pack(value)) == value


def test_known_encodings_match_messagepack() -> None:
    assert pack({"a": 1}) == b"\x81\xa1a\x01"
    assert pack(-1) == b"\xff"
    assert pack(b"\x00") == b"\xc4\x01\x00"
    assert pack(2**64 - 1) == b"\xcf" + b"\xff" * 8


def test_tuples_encode_as_lists_and_bytes_stay_bytes() -> None:
    assert unpack(pack((1, 2))) == [1, 2]
    assert isinstance(unpack(pack(bytearray(b"ab"))), bytes)


@pytest.mark.parametrize(
    "value",
    [object(), {1: "int key"}, 2**64, -(2**63) - 1, {1.5}],
    ids=["object", "int-key", "big", "small", "set"],
)
def test_unencodable_values_are_refused(value: object) -> None:
    with pytest.raises(CodecError):
        pack(value)


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", b"\xa5abc", b"\xdc\x00\x05\x01", b"\x81\x01\x02", b"\x01\x02", b"\xcd\x01"],
    ids=["empty", "reserved", "short-str", "short-array", "int-key", "trailing", "short-int"],
)
def test_malformed_input_is_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        unpack(data)


def test_nesting_is_bounded() -> None:
    deep: list[object] = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(CodecError, match="deeper"):
        pack(deep)
    with pytest.raises(CodecError, match="deeper"):
        unpack(b"\x91" * 40 + b"\x90")
