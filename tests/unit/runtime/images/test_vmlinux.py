"""bzImage header parsing, payload decompression and PVH note lookup (synthetic files)."""

from __future__ import annotations

import lzma
import struct
from pathlib import Path

import pytest

from atelier.runtime.images import vmlinux
from atelier.runtime.images.errors import KernelFormatError
from tests.unit.runtime.images import elves


def test_pvh_entry_found_among_other_notes() -> None:
    assert vmlinux.pvh_entry(elves.pvh_vmlinux(0x1234)) == 0x1234


def test_elf_without_pvh_note() -> None:
    plain = elves.elf([(elves.PT_LOAD, b"x" * 8), (elves.PT_NOTE, elves.note(b"GNU", 3, b"1234"))])
    assert vmlinux.pvh_entry(plain) is None


def test_not_an_elf_is_rejected() -> None:
    with pytest.raises(KernelFormatError):
        vmlinux.pvh_entry(b"MZ" + b"\0" * 100)


def test_header_fields() -> None:
    payload = elves.gzip_payload(b"hello")
    header = vmlinux.parse_header(elves.bzimage(payload, setup_sects=3))
    assert header.setup_sects == 3
    assert header.protocol == 0x20F
    assert header.payload_start == 4 * 512 + 0x40
    assert header.payload_length == len(payload)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\0" * 4096, "HdrS"),
        (elves.bzimage(b"x", protocol=0x207), "2.07"),
    ],
)
def test_bad_headers(data: bytes, message: str) -> None:
    with pytest.raises(KernelFormatError, match=message):
        vmlinux.parse_header(data)


def test_payload_past_end_is_rejected() -> None:
    data = bytearray(elves.bzimage(b"abc"))
    struct.pack_into("<I", data, 0x24C, 10**6)
    with pytest.raises(KernelFormatError, match="past the end"):
        vmlinux.parse_header(bytes(data))


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"\x1f\x8b\x08", "gzip"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"\x02\x21\x4c\x18", "lz4"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"\x7fELF", "none"),
    ],
)
def test_compression_magic(payload: bytes, kind: str) -> None:
    assert vmlinux.compression(payload + b"\0" * 8) == kind


def test_unknown_compression() -> None:
    with pytest.raises(KernelFormatError, match="unknown"):
        vmlinux.compression(b"\x00\x01\x02\x03")


async def test_extract_gzip_payload(tmp_path: Path) -> None:
    inner = elves.pvh_vmlinux(0xABC)
    source = tmp_path / "vmlinuz"
    source.write_bytes(elves.bzimage(elves.gzip_payload(inner)))
    dest = tmp_path / "vmlinux"
    assert await vmlinux.extract_vmlinux(source, dest) == 0xABC
    assert dest.read_bytes() == inner
    assert not (tmp_path / "vmlinux.part").exists()


async def test_extract_xz_payload_with_trailing_size(tmp_path: Path) -> None:
    inner = elves.pvh_vmlinux()
    payload = lzma.compress(inner, format=lzma.FORMAT_XZ) + struct.pack("<I", len(inner))
    source = tmp_path / "vmlinuz"
    source.write_bytes(elves.bzimage(payload))
    await vmlinux.extract_vmlinux(source, tmp_path / "vmlinux")
    assert (tmp_path / "vmlinux").read_bytes() == inner


async def test_extract_refuses_kernel_without_pvh(tmp_path: Path) -> None:
    inner = elves.elf([(elves.PT_LOAD, b"x")])
    source = tmp_path / "vmlinuz"
    source.write_bytes(elves.bzimage(elves.gzip_payload(inner)))
    with pytest.raises(KernelFormatError, match="PVH") as info:
        await vmlinux.extract_vmlinux(source, tmp_path / "vmlinux")
    assert "CONFIG_PVH" in (info.value.hint or "")
    assert not (tmp_path / "vmlinux").exists()
