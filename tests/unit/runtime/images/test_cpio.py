"""The newc writer, read back by our reader and by GNU cpio."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from atelier.runtime.host import proc
from atelier.runtime.images import cpio


def _archive() -> bytes:
    buffer = io.BytesIO()
    writer = cpio.CpioWriter(buffer)
    writer.directory("bin")
    writer.file("/init", b"#!/bin/sh\necho hi\n", 0o755)
    writer.file("bin/odd", b"12345", 0o600)  # length not a multiple of 4
    writer.symlink("bin/sh", "busybox")
    writer.char_device("dev/console", 5, 1, 0o600)
    writer.parents("a/b/c/file")
    writer.file("a/b/c/file", b"")
    writer.close()
    return buffer.getvalue()


def test_round_trip() -> None:
    data = _archive()
    assert len(data) % 4 == 0
    entries = {entry.name: entry for entry in cpio.read_entries(data)}
    assert list(entries) == ["bin", "init", "bin/odd", "bin/sh", "dev/console", "a", "a/b",
                             "a/b/c", "a/b/c/file"]  # fmt: skip
    assert stat.S_ISDIR(entries["bin"].mode)
    assert entries["init"].data == b"#!/bin/sh\necho hi\n"
    assert stat.S_IMODE(entries["init"].mode) == 0o755
    assert entries["bin/odd"].data == b"12345"
    assert stat.S_ISLNK(entries["bin/sh"].mode) and entries["bin/sh"].data == b"busybox"
    console = entries["dev/console"]
    assert stat.S_ISCHR(console.mode) and (console.rdevmajor, console.rdevminor) == (5, 1)
    assert all(entry.uid == 0 and entry.gid == 0 for entry in entries.values())


def test_output_is_deterministic() -> None:
    assert _archive() == _archive()


@pytest.mark.parametrize("name", ["", "/", "init", "TRAILER!!!"])
def test_bad_or_duplicate_names(name: str) -> None:
    writer = cpio.CpioWriter(io.BytesIO())
    writer.file("init", b"")
    with pytest.raises(ValueError, match="empty, reserved or already used"):
        writer.file(name, b"")


def test_reader_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="magic"):
        cpio.read_entries(b"070707" + b"0" * 200)


@pytest.mark.skipif(proc.which("cpio") is None, reason="needs GNU cpio (apt-get install cpio)")
async def test_gnu_cpio_lists_and_extracts(tmp_path: Path) -> None:
    archive = tmp_path / "x.cpio"
    archive.write_bytes(_archive())
    listing = await proc.run(["cpio", "-t", "-v", "-F", archive], timeout=30)
    lines = listing.text.splitlines()
    assert any(line.startswith("crw-------") and "5,   1" in line and "dev/console" in line
               for line in lines)  # fmt: skip
    assert any(line.startswith("lrwxrwxrwx") and "bin/sh -> busybox" in line for line in lines)
    out = tmp_path / "out"
    out.mkdir()
    await proc.run(["cpio", "-i", "-d", "--no-absolute-filenames", "-F", archive, "init",
                    "bin/odd"], timeout=30, cwd=out)  # fmt: skip
    assert (out / "init").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (out / "bin" / "odd").read_bytes() == b"12345"
