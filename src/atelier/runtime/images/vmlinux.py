"""Getting a PVH-bootable ELF `vmlinux` out of a kernel, and checking one.

A bzImage's protected-mode payload is the complete, compressed ELF vmlinux. The x86 boot
header (boot protocol >= 2.08) says where: `payload_offset`/`payload_length` at 0x248/0x24c,
relative to the protected-mode code that starts after `(setup_sects + 1) * 512` bytes.
Debian compresses it with LZ4 (legacy frames); gzip, xz and bzip2 are handled in-process,
lz4 and zstd through the host tools. `pvh_entry()` finds the Xen `PHYS32_ENTRY` ELF note
that lets QEMU's `-kernel` and Firecracker enter the kernel directly.
"""

from __future__ import annotations

import asyncio
import bz2
import lzma
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from atelier.runtime.host import proc
from atelier.runtime.images.errors import KernelFormatError

_HDR_MAGIC = b"HdrS"
_ELF_MAGIC = b"\x7fELF"
_XEN_ELFNOTE_PHYS32_ENTRY = 18
_PT_NOTE = 4

# Magic bytes at the start of the payload, per compressor (see the kernel's Makefile.lib).
_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    (b"\x02\x21\x4c\x18", "lz4"),  # lz4 legacy frame, as the kernel writes it
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x5d\x00\x00", "lzma"),
    (_ELF_MAGIC, "none"),
)


@dataclass(frozen=True)
class BzImageHeader:
    """The fields of the x86 boot header needed to find the payload."""

    setup_sects: int
    protocol: int  # e.g. 0x20f for 2.15
    payload_offset: int
    payload_length: int

    @property
    def payload_start(self) -> int:
        """File offset of the compressed payload."""
        return (self.setup_sects + 1) * 512 + self.payload_offset


def parse_header(data: bytes) -> BzImageHeader:
    """Parse the boot header of a bzImage; KernelFormatError when it is not one."""
    if len(data) < 0x250 or data[0x202:0x206] != _HDR_MAGIC:
        raise KernelFormatError(
            "not a bzImage: the boot header magic 'HdrS' is missing at offset 0x202",
            hint="pass the /boot/vmlinuz-* file of an x86 kernel package",
        )
    setup_sects = data[0x1F1] or 4  # 0 means 4, for ancient kernels
    (protocol,) = struct.unpack_from("<H", data, 0x206)
    if protocol < 0x208:
        raise KernelFormatError(
            f"bzImage boot protocol {protocol >> 8}.{protocol & 0xFF:02d} has no payload fields"
            " (need >= 2.08)"
        )
    offset, length = struct.unpack_from("<II", data, 0x248)
    header = BzImageHeader(setup_sects, protocol, offset, length)
    if header.payload_start + length > len(data):
        raise KernelFormatError(
            f"bzImage payload (offset {header.payload_start}, length {length}) runs past the"
            f" end of the file ({len(data)} bytes)"
        )
    return header


def compression(payload: bytes) -> str:
    """The compressor of a kernel payload, from its magic bytes."""
    for magic, name in _MAGICS:
        if payload.startswith(magic):
            return name
    raise KernelFormatError(f"unknown kernel payload compression (magic {payload[:6].hex()})")


async def decompress(payload: bytes) -> bytes:
    """Decompress a kernel payload; trailing bytes after the stream are ignored."""
    kind = compression(payload)
    if kind == "none":
        return payload
    if kind == "gzip":
        return zlib.decompressobj(wbits=31).decompress(payload)
    if kind in ("xz", "lzma"):
        fmt = lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE
        return lzma.LZMADecompressor(format=fmt).decompress(payload)
    if kind == "bzip2":
        return bz2.BZ2Decompressor().decompress(payload)
    tool = "lz4" if kind == "lz4" else "zstd"
    done = await proc.run([tool, "-dc"], input=payload, timeout=120, check=False)
    # lz4 reports the size word the kernel appends after the last frame as an error;
    # the output is complete, so judge by the result instead of the exit code.
    if not done.stdout.startswith(_ELF_MAGIC):
        raise KernelFormatError(
            f"{tool} could not decompress the kernel payload:"
            f" {done.stderr.decode('utf-8', 'replace').strip()[-300:]}"
        )
    return done.stdout


async def extract_vmlinux(bzimage: Path, dest: Path) -> int:
    """Write the ELF vmlinux inside `bzimage` to `dest`; returns its PVH entry address.

    Raises KernelFormatError when the file is not a bzImage or the ELF has no PVH note.
    """
    data = await asyncio.to_thread(bzimage.read_bytes)
    header = parse_header(data)
    payload = data[header.payload_start : header.payload_start + header.payload_length]
    elf = await decompress(payload)
    entry = pvh_entry(elf)
    if entry is None:
        raise KernelFormatError(
            f"the vmlinux inside {bzimage} has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)",
            hint="the kernel needs CONFIG_PVH=y to boot through QEMU -kernel or Firecracker",
        )
    await asyncio.to_thread(_write_atomically, dest, elf)
    return entry


def _write_atomically(dest: Path, data: bytes) -> None:
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(dest)


def pvh_entry(elf: bytes) -> int | None:
    """The 32-bit PVH entry point from the ELF's Xen notes, or None when there is none."""
    if not elf.startswith(_ELF_MAGIC) or elf[4] != 2 or elf[5] != 1:
        raise KernelFormatError("not a 64-bit little-endian ELF file")
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for index in range(phnum):
        base = phoff + index * phentsize
        p_type, _flags, p_offset = struct.unpack_from("<IIQ", elf, base)
        (p_filesz,) = struct.unpack_from("<Q", elf, base + 0x20)
        if p_type == _PT_NOTE:
            entry = _find_pvh_note(elf[p_offset : p_offset + p_filesz])
            if entry is not None:
                return entry
    return None


def _find_pvh_note(notes: bytes) -> int | None:
    pos = 0
    while pos + 12 <= len(notes):
        namesz, descsz, kind = struct.unpack_from("<III", notes, pos)
        name_end = pos + 12 + _align4(namesz)
        name = notes[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
        desc = notes[name_end : name_end + descsz]
        if name == b"Xen" and kind == _XEN_ELFNOTE_PHYS32_ENTRY and len(desc) >= 4:
            size = 8 if len(desc) >= 8 else 4
            return int.from_bytes(desc[:size], "little")
        pos = name_end + _align4(descsz)
    return None


def _align4(value: int) -> int:
    return (value + 3) & ~3


def file_pvh_entry(path: Path) -> int | None:
    """`pvh_entry()` of an ELF file on disk."""
    return pvh_entry(path.read_bytes())
