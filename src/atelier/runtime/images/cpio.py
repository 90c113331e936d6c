"""A writer (and reader) for the `newc` cpio format the kernel unpacks as an initramfs.

Writing in Python makes modes, owners and device nodes exact without root or mknod. Output
is deterministic: inode numbers count up, mtimes are 0, owners are root.

newc record: the magic `070701`, thirteen 8-digit hex fields (ino, mode, uid, gid, nlink,
mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize incl. NUL, check),
the name, NUL, padding to 4 bytes, the data, padding to 4 bytes. `TRAILER!!!` ends it.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import BinaryIO

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
_HEADER_LEN = 110


@dataclass(frozen=True)
class Entry:
    """One record of an archive."""

    name: str
    mode: int  # file type bits and permissions
    uid: int
    gid: int
    data: bytes  # file contents, or the target of a symlink
    rdevmajor: int = 0
    rdevminor: int = 0


class CpioWriter:
    """Writes newc records to a binary stream; call `close()` to add the trailer."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._ino = 0
        self._names: set[str] = set()

    def directory(self, name: str, mode: int = 0o755) -> None:
        """A directory."""
        self._record(name, stat.S_IFDIR | mode, b"", nlink=2)

    def parents(self, name: str, mode: int = 0o755) -> None:
        """Directories for every missing ancestor of `name`."""
        parts = name.strip("/").split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent not in self._names:
                self.directory(parent, mode)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        """A regular file with `data`."""
        self._record(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        """A symbolic link to `target`."""
        self._record(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        """A character device node."""
        self._record(name, stat.S_IFCHR | mode, b"", rdev=(major, minor))

    def close(self) -> None:
        """Write the trailer record that ends the archive."""
        self._write(TRAILER, 0, b"", nlink=1, ino=0, rdev=(0, 0))

    def _record(
        self, name: str, mode: int, data: bytes, *, nlink: int = 1, rdev: tuple[int, int] = (0, 0)
    ) -> None:
        name = name.strip("/")
        if not name or name in self._names or name == TRAILER:
            raise ValueError(f"cpio entry name {name!r} is empty, reserved or already used")
        self._names.add(name)
        self._ino += 1
        self._write(name, mode, data, nlink=nlink, ino=self._ino, rdev=rdev)

    def _write(
        self, name: str, mode: int, data: bytes, *, nlink: int, ino: int, rdev: tuple[int, int]
    ) -> None:
        encoded = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        header = MAGIC + b"".join(b"%08X" % value for value in fields)
        self._out.write(header + encoded + _pad(_HEADER_LEN + len(encoded)))
        self._out.write(data + _pad(len(data)))


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def read_entries(archive: bytes) -> list[Entry]:
    """Parse a newc archive (up to its trailer); ValueError on a malformed record."""
    entries: list[Entry] = []
    pos = 0
    while True:
        if archive[pos : pos + 6] != MAGIC:
            raise ValueError(f"bad cpio magic at offset {pos}")
        values = [int(archive[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = values[11], values[6]
        name_start = pos + _HEADER_LEN
        name = archive[name_start : name_start + namesize - 1].decode()
        data_start = name_start + namesize + (-(_HEADER_LEN + namesize) % 4)
        data = archive[data_start : data_start + filesize]
        pos = data_start + filesize + (-filesize % 4)
        if name == TRAILER:
            return entries
        entries.append(Entry(name, values[1], values[2], values[3], data, values[9], values[10]))
