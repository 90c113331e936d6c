"""Extent helpers: hole-preserving copies, FIEMAP summaries, btrfs du parsing."""

from __future__ import annotations

import os
from pathlib import Path

from atelier.runtime.storage._extents import data_segments, extents, sparse_copy, summarize
from atelier.runtime.storage.reflink import parse_btrfs_du

MIB = 1024**2


def make_sparse(path: Path) -> None:
    with open(path, "wb") as f:
        f.write(b"A" * MIB)
        f.seek(8 * MIB)
        f.write(b"B" * MIB)
        f.truncate(32 * MIB)


def test_data_segments_skip_holes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_sparse(src)
    fd = os.open(src, os.O_RDONLY)
    try:
        segments = list(data_segments(fd, 32 * MIB))
    finally:
        os.close(fd)
    assert segments[0][0] == 0 and segments[-1][1] <= 9 * MIB + 64 * 1024
    assert sum(end - start for start, end in segments) < 4 * MIB


def copy(src: Path, dst: Path) -> int:
    src_fd = os.open(src, os.O_RDONLY)
    dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        return sparse_copy(src_fd, dst_fd, os.fstat(src_fd).st_size)
    finally:
        os.close(src_fd)
        os.close(dst_fd)


def test_sparse_copy_is_exact_and_stays_sparse(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_sparse(src)
    written = copy(src, dst)
    assert dst.read_bytes() == src.read_bytes()
    assert dst.stat().st_size == 32 * MIB
    assert written < 4 * MIB
    assert dst.stat().st_blocks * 512 < 4 * MIB


def test_fiemap_sees_exclusive_extents(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_sparse(src)
    fd = os.open(src, os.O_RDONLY)
    try:
        found = list(extents(fd))
        summary = summarize(fd)
    finally:
        os.close(fd)
    assert found and all(not e.shared for e in found)
    assert summary.shared == 0 and summary.exclusive >= 2 * MIB


def test_parse_btrfs_du() -> None:
    text = (
        "     Total   Exclusive  Set shared  Filename\n"
        "  16777216           0    16777216  /pool/atl-base-a.12345678.img\n"
        "  16777216        4096    16773120  /pool/with space.img\n"
        "         -           -           -  /pool/odd\n"
    )
    assert parse_btrfs_du(text) == {
        "/pool/atl-base-a.12345678.img": (16777216, 0, 16777216),
        "/pool/with space.img": (16777216, 4096, 16773120),
    }
