"""Tiny synthetic ELF files and bzImages for the kernel-format tests."""

from __future__ import annotations

import gzip
import struct

PT_LOAD, PT_INTERP, PT_NOTE = 1, 3, 4


def elf(phdrs: list[tuple[int, bytes]]) -> bytes:
    """A 64-bit little-endian ELF whose program headers carry the given (type, data)."""
    ehdr_size, phent = 64, 56
    data_start = ehdr_size + phent * len(phdrs)
    header = bytearray(ehdr_size)
    header[0:4] = b"\x7fELF"
    header[4], header[5], header[6] = 2, 1, 1
    struct.pack_into("<HHI", header, 16, 2, 0x3E, 1)
    struct.pack_into("<Q", header, 0x20, ehdr_size)
    struct.pack_into("<HH", header, 0x36, phent, len(phdrs))
    table, blobs, offset = b"", b"", data_start
    for p_type, blob in phdrs:
        table += struct.pack("<IIQQQQQQ", p_type, 4, offset, 0, 0, len(blob), len(blob), 4)
        blobs += blob
        offset += len(blob)
    return bytes(header) + table + blobs


def note(name: bytes, kind: int, desc: bytes) -> bytes:
    """One ELF note record."""

    def pad(b: bytes) -> bytes:
        return b + b"\0" * (-len(b) % 4)

    return struct.pack("<III", len(name) + 1, len(desc), kind) + pad(name + b"\0") + pad(desc)


def pvh_vmlinux(entry: int = 0x1000850) -> bytes:
    """A stand-in vmlinux with a Xen PHYS32_ENTRY note among other notes."""
    notes = note(b"GNU", 3, b"\x01" * 20) + note(b"Xen", 18, struct.pack("<Q", entry))
    return elf([(PT_LOAD, b"\x90" * 64), (PT_NOTE, notes)])


def bzimage(payload: bytes, setup_sects: int = 1, protocol: int = 0x20F) -> bytes:
    """A stand-in bzImage whose boot header points at `payload`."""
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, protocol)
    offset = 0x40
    struct.pack_into("<II", setup, 0x248, offset, len(payload))
    return bytes(setup) + b"\0" * offset + payload + b"tail"


def gzip_payload(data: bytes) -> bytes:
    """gzip data followed by the 4-byte size the kernel build appends."""
    return gzip.compress(data, mtime=0) + struct.pack("<I", len(data))
