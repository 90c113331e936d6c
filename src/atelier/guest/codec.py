"""The message codec: a strict subset of MessagePack shared by the agent and the host client.

Values are None, bool, int (64-bit), float, str, bytes, list and dict with str keys; bytes stay
binary (no base64). Anything else, malformed input, trailing bytes or nesting deeper than
`MAX_DEPTH` raise `CodecError`. Pure functions, no I/O; imported on the guest hot path, so it
depends on `struct` only.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_DEPTH = 32

_B = struct.Struct(">B")
_H = struct.Struct(">H")
_I = struct.Struct(">I")
_Q = struct.Struct(">Q")
_b = struct.Struct(">b")
_h = struct.Struct(">h")
_i = struct.Struct(">i")
_q = struct.Struct(">q")
_d = struct.Struct(">d")


class CodecError(ValueError):
    """A value cannot be encoded, or bytes are not a valid message."""


def pack(value: object) -> bytes:
    """Encode one value."""
    out: list[bytes] = []
    _pack(value, out, 0)
    return b"".join(out)


def unpack(data: bytes | bytearray | memoryview) -> Any:
    """Decode exactly one value; trailing bytes are an error."""
    view = memoryview(data)
    value, pos = _unpack(view, 0, 0)
    if pos != len(view):
        raise CodecError(f"{len(view) - pos} trailing bytes after the message")
    return value


def _pack(value: object, out: list[bytes], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CodecError(f"message nests deeper than {MAX_DEPTH} levels")
    if value is None:
        out.append(b"\xc0")
    elif value is True:
        out.append(b"\xc3")
    elif value is False:
        out.append(b"\xc2")
    elif isinstance(value, int):
        out.append(_pack_int(value))
    elif isinstance(value, float):
        out.append(b"\xcb" + _d.pack(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
        out.append(_head(len(raw), 0xA0, 32, b"\xd9", b"\xda", b"\xdb") + raw)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        out.append(_head(len(raw), -1, 0, b"\xc4", b"\xc5", b"\xc6") + raw)
    elif isinstance(value, (list, tuple)):
        out.append(_head(len(value), 0x90, 16, b"", b"\xdc", b"\xdd"))
        for item in value:
            _pack(item, out, depth + 1)
    elif isinstance(value, dict):
        out.append(_head(len(value), 0x80, 16, b"", b"\xde", b"\xdf"))
        for key, item in value.items():
            if not isinstance(key, str):
                raise CodecError(f"map keys must be str, got {type(key).__name__}")
            _pack(key, out, depth + 1)
            _pack(item, out, depth + 1)
    else:
        raise CodecError(f"cannot encode a value of type {type(value).__name__}")


def _head(n: int, fix: int, fix_limit: int, t8: bytes, t16: bytes, t32: bytes) -> bytes:
    if n < fix_limit:
        return _B.pack(fix | n)
    if t8 and n < 0x100:
        return t8 + _B.pack(n)
    if n < 0x10000:
        return t16 + _H.pack(n)
    if n < 0x100000000:
        return t32 + _I.pack(n)
    raise CodecError(f"length {n} is too large to encode")


def _pack_int(n: int) -> bytes:
    if 0 <= n < 0x80:
        return _B.pack(n)
    if -32 <= n < 0:
        return _b.pack(n)
    if n >= 0:
        if n < 0x100:
            return b"\xcc" + _B.pack(n)
        if n < 0x10000:
            return b"\xcd" + _H.pack(n)
        if n < 0x100000000:
            return b"\xce" + _I.pack(n)
        if n < 0x10000000000000000:
            return b"\xcf" + _Q.pack(n)
    else:
        if n >= -0x80:
            return b"\xd0" + _b.pack(n)
        if n >= -0x8000:
            return b"\xd1" + _h.pack(n)
        if n >= -0x80000000:
            return b"\xd2" + _i.pack(n)
        if n >= -0x8000000000000000:
            return b"\xd3" + _q.pack(n)
    raise CodecError(f"integer {n} does not fit in 64 bits")


# type byte -> (struct, kind) for fixed-size scalars
_SCALARS: dict[int, struct.Struct] = {
    0xCC: _B, 0xCD: _H, 0xCE: _I, 0xCF: _Q,
    0xD0: _b, 0xD1: _h, 0xD2: _i, 0xD3: _q, 0xCB: _d,
}  # fmt: skip
# type byte -> (length struct, kind) for sized values
_SIZED: dict[int, tuple[struct.Struct, str]] = {
    0xD9: (_B, "str"), 0xDA: (_H, "str"), 0xDB: (_I, "str"),
    0xC4: (_B, "bin"), 0xC5: (_H, "bin"), 0xC6: (_I, "bin"),
    0xDC: (_H, "array"), 0xDD: (_I, "array"), 0xDE: (_H, "map"), 0xDF: (_I, "map"),
}  # fmt: skip
_CONSTANTS: dict[int, object] = {0xC0: None, 0xC2: False, 0xC3: True}


def _take(view: memoryview, pos: int, n: int) -> memoryview:
    end = pos + n
    if end > len(view):
        raise CodecError(f"message truncated: needs {end} bytes, has {len(view)}")
    return view[pos:end]


def _unpack(view: memoryview, pos: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise CodecError(f"message nests deeper than {MAX_DEPTH} levels")
    code = _take(view, pos, 1)[0]
    pos += 1
    if code < 0x80:
        return code, pos
    if code >= 0xE0:
        return code - 0x100, pos
    if code in _CONSTANTS:
        return _CONSTANTS[code], pos
    if code in _SCALARS:
        fmt = _SCALARS[code]
        return fmt.unpack(_take(view, pos, fmt.size))[0], pos + fmt.size
    if 0xA0 <= code <= 0xBF:
        return _sized(view, pos, code & 0x1F, "str", depth)
    if 0x90 <= code <= 0x9F:
        return _sized(view, pos, code & 0x0F, "array", depth)
    if 0x80 <= code <= 0x8F:
        return _sized(view, pos, code & 0x0F, "map", depth)
    if code in _SIZED:
        fmt, kind = _SIZED[code]
        n = fmt.unpack(_take(view, pos, fmt.size))[0]
        return _sized(view, pos + fmt.size, n, kind, depth)
    raise CodecError(f"unsupported type byte 0x{code:02x}")


def _sized(view: memoryview, pos: int, n: int, kind: str, depth: int) -> tuple[Any, int]:
    if kind == "str":
        # surrogateescape: file names that are not UTF-8 survive a round trip.
        return str(_take(view, pos, n), "utf-8", "surrogateescape"), pos + n
    if kind == "bin":
        return bytes(_take(view, pos, n)), pos + n
    if n > len(view) - pos:  # each element takes at least one byte
        raise CodecError(f"{kind} of {n} elements exceeds the message")
    if kind == "array":
        items = []
        for _ in range(n):
            item, pos = _unpack(view, pos, depth + 1)
            items.append(item)
        return items, pos
    result: dict[str, Any] = {}
    for _ in range(n):
        key, pos = _unpack(view, pos, depth + 1)
        if not isinstance(key, str):
            raise CodecError(f"map keys must be str, got {type(key).__name__}")
        result[key], pos = _unpack(view, pos, depth + 1)
    return result, pos
