"""File extent operations the storage drivers share: FICLONE, sparse copy, FIEMAP.

Blocking syscalls on file descriptors, plus async wrappers that run the slow ones (sparse
copies, FIEMAP walks of many big files) in a thread. FICLONE is metadata-only and may run
on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# linux/fs.h: _IOW(0x94, 9, int). Python's fcntl.FICLONE only exists from 3.12 on.
FICLONE = 0x40049409
# linux/fs.h: _IOWR('f', 11, struct fiemap)
FS_IOC_FIEMAP = 0xC020660B
FIEMAP_FLAG_SYNC = 0x1
FIEMAP_EXTENT_LAST = 0x1
FIEMAP_EXTENT_SHARED = 0x2000
_FIEMAP_MAX_OFFSET = 2**64 - 1
_HEADER = struct.Struct("=QQIIII")  # fm_start, fm_length, fm_flags, mapped, count, reserved
_EXTENT = struct.Struct("=QQQQQIIII")  # logical, physical, length, 2 reserved, flags, 3 reserved
_BATCH = 256

_CHUNK = 4 * 1024 * 1024


def ficlone(src_fd: int, dst_fd: int) -> None:
    """Make `dst_fd` share all of `src_fd`'s extents (btrfs, XFS reflink=1). Raises OSError."""
    fcntl.ioctl(dst_fd, FICLONE, src_fd)


def data_segments(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) byte ranges of `fd` that hold data, skipping holes (SEEK_DATA/SEEK_HOLE).

    Filesystems without hole reporting yield the whole range as data.
    """
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after pos
                return
            if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
                yield pos, size
                return
            raise
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        if end > start:
            yield start, end
        pos = end


def sparse_copy(src_fd: int, dst_fd: int, size: int) -> int:
    """Copy `size` bytes of `src_fd` into `dst_fd`, leaving holes (and, for block devices,
    unwritten zero chunks) unwritten. Returns the bytes written.

    The destination must read as zeros where nothing is written: a fresh file, or a fresh
    thin volume. Regular files go through copy_file_range (in-kernel), devices through
    pread/pwrite so all-zero chunks can be skipped.
    """
    to_file = stat.S_ISREG(os.fstat(dst_fd).st_mode)
    written = 0
    for start, end in data_segments(src_fd, size):
        if to_file:
            written += _copy_range(src_fd, dst_fd, start, end)
        else:
            written += _copy_chunks(src_fd, dst_fd, start, end)
    if to_file:
        os.ftruncate(dst_fd, size)
    os.fsync(dst_fd)
    return written


def _copy_range(src_fd: int, dst_fd: int, start: int, end: int) -> int:
    pos = start
    try:
        while pos < end:
            count = os.copy_file_range(src_fd, dst_fd, end - pos, pos, pos)
            if count == 0:
                break
            pos += count
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
        return (pos - start) + _copy_chunks(src_fd, dst_fd, pos, end)
    return pos - start


def _copy_chunks(src_fd: int, dst_fd: int, start: int, end: int) -> int:
    zeros = bytes(_CHUNK)
    written = 0
    pos = start
    while pos < end:
        chunk = os.pread(src_fd, min(_CHUNK, end - pos), pos)
        if not chunk:
            break
        if chunk != zeros[: len(chunk)]:
            view = memoryview(chunk)
            done = 0
            while done < len(chunk):
                done += os.pwrite(dst_fd, view[done:], pos + done)
            written += len(chunk)
        pos += len(chunk)
    return written


@dataclass(frozen=True)
class Extent:
    """One FIEMAP extent of a file."""

    logical: int
    physical: int
    length: int
    flags: int

    @property
    def shared(self) -> bool:
        """True when other files (reflinks, snapshots) reference the same blocks."""
        return bool(self.flags & FIEMAP_EXTENT_SHARED)


def extents(fd: int) -> Iterator[Extent]:
    """Every extent of the open file `fd`, via FS_IOC_FIEMAP. Raises OSError (EOPNOTSUPP
    on filesystems without FIEMAP, such as tmpfs)."""
    start = 0
    while True:
        buf = bytearray(_HEADER.size + _BATCH * _EXTENT.size)
        _HEADER.pack_into(buf, 0, start, _FIEMAP_MAX_OFFSET - start, FIEMAP_FLAG_SYNC, 0, _BATCH, 0)
        fcntl.ioctl(fd, FS_IOC_FIEMAP, buf)
        mapped = _HEADER.unpack_from(buf, 0)[3]
        if mapped == 0:
            return
        extent = None
        for index in range(mapped):
            fields = _EXTENT.unpack_from(buf, _HEADER.size + index * _EXTENT.size)
            extent = Extent(fields[0], fields[1], fields[2], fields[5])
            yield extent
            if extent.flags & FIEMAP_EXTENT_LAST:
                return
        assert extent is not None
        start = extent.logical + extent.length


@dataclass(frozen=True)
class ExtentSummary:
    """Allocated bytes of a set of files, split into shared and exclusive."""

    shared: int
    exclusive: int
    shared_physical: frozenset[tuple[int, int]]  # (physical, length) of shared extents


def summarize(fd: int) -> ExtentSummary:
    """Shared and exclusive bytes of one open file, from its extents."""
    shared = exclusive = 0
    physical: set[tuple[int, int]] = set()
    for extent in extents(fd):
        if extent.shared:
            shared += extent.length
            physical.add((extent.physical, extent.length))
        else:
            exclusive += extent.length
    return ExtentSummary(shared, exclusive, frozenset(physical))


@dataclass(frozen=True)
class Sharing:
    """Shared and exclusive bytes per volume file and, physically counted once, for the pool.
    Files the filesystem cannot map are missing; pool figures are None then."""

    files: dict[Path, tuple[int, int]]  # path -> (shared, exclusive)
    shared: int | None
    exclusive: int | None


async def fiemap_sharing(paths: list[Path]) -> Sharing:
    """Sharing from FIEMAP extent flags, in a thread (walks every extent of every file)."""

    def walk() -> Sharing:
        files: dict[Path, tuple[int, int]] = {}
        physical: set[tuple[int, int]] = set()
        exclusive = 0
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                summary = summarize(fd)
            except OSError:
                continue  # no FIEMAP here (tmpfs): shared/exclusive stay unknown
            finally:
                os.close(fd)
            files[path] = (summary.shared, summary.exclusive)
            physical |= summary.shared_physical
            exclusive += summary.exclusive
        if len(files) < len(paths):
            return Sharing(files, None, None)
        return Sharing(files, sum(length for _, length in physical), exclusive)

    return await asyncio.to_thread(walk)


async def copy_file(src_fd: int, dst_fd: int) -> None:
    """Sparse-copy `src_fd` into the new empty file `dst_fd`, in a thread.

    On cancellation the copy still runs to its end before the error propagates, so the
    caller never closes descriptors a thread is using.
    """
    size = os.fstat(src_fd).st_size
    task = asyncio.ensure_future(asyncio.to_thread(sparse_copy, src_fd, dst_fd, size))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await asyncio.wait([task])
        raise
