"""Cache statistics and housekeeping: hit counters read from logs, storage size, eviction.

Both caches log every request they serve and every request they send upstream. A
`LogCounter` reads a log incrementally (from where it stopped; from the start again when
the file was truncated or replaced) and feeds each line to the cache's `count` function;
requests minus upstream fetches are the requests served from the cache. `evict` removes
cached files not used for longer than the configured age (by the later of access and
modification time).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Counters:
    """Requests a cache served and fetches it made upstream, for files and indexes."""

    file_requests: int = 0
    file_fetches: int = 0
    index_requests: int = 0
    index_fetches: int = 0

    def add_request(self, *, file: bool) -> None:
        """One request from a client."""
        if file:
            self.file_requests += 1
        else:
            self.index_requests += 1

    def add_fetch(self, *, file: bool) -> None:
        """One request to the uplink."""
        if file:
            self.file_fetches += 1
        else:
            self.index_fetches += 1

    @property
    def file_hits(self) -> int:
        """Package files served from the cache without going upstream."""
        return max(0, self.file_requests - self.file_fetches)

    @property
    def index_hits(self) -> int:
        """Index (metadata) requests served from the cache."""
        return max(0, self.index_requests - self.index_fetches)

    def to_dict(self) -> dict[str, int]:
        """Plain JSON data."""
        return {
            "file_requests": self.file_requests,
            "file_fetches": self.file_fetches,
            "file_hits": self.file_hits,
            "index_requests": self.index_requests,
            "index_fetches": self.index_fetches,
            "index_hits": self.index_hits,
        }


LineCounter = Callable[[str, Counters], None]


@dataclass
class LogCounter:
    """Reads a log incrementally and keeps the counters of everything read so far."""

    path: Path
    count: LineCounter
    counters: Counters = field(default_factory=Counters)
    _offset: int = 0
    _inode: int | None = None
    _partial: bytes = b""

    def update(self) -> Counters:
        """Read what was appended since the last call; returns the counters."""
        try:
            with self.path.open("rb") as fh:
                st = os.fstat(fh.fileno())
                if st.st_ino != self._inode or st.st_size < self._offset:
                    self.counters, self._offset, self._partial = Counters(), 0, b""
                    self._inode = st.st_ino
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return self.counters
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            self.count(raw.decode("utf-8", "replace").strip(), self.counters)
        return self.counters


def disk_usage(root: Path) -> tuple[int, int]:
    """(bytes allocated, file count) under `root`; (0, 0) when it does not exist."""
    total = files = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            total += st.st_blocks * 512
            files += 1
    return total, files


@dataclass(frozen=True)
class Eviction:
    """What one eviction pass removed."""

    root: Path
    files: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {"root": str(self.root), "files": self.files, "bytes": self.bytes}


def last_used(st: os.stat_result) -> float:
    """When a cached file was last used: the later of its access and modification time."""
    return max(st.st_atime, st.st_mtime)


def evict(
    root: Path,
    max_age_s: float,
    *,
    now: float | None = None,
    match: Callable[[Path], bool] = lambda _p: True,
    keep: Iterable[str] = (),
) -> Eviction:
    """Remove files under `root` for which `match` holds and that were not used for
    `max_age_s`; then remove directories left empty. Names in `keep` are never removed."""
    cutoff = (time.time() if now is None else now) - max_age_s
    kept = set(keep)
    removed = freed = 0
    for dirpath, _dirs, names in os.walk(root, topdown=False):
        for name in names:
            path = Path(dirpath) / name
            if name in kept or not match(path):
                continue
            try:
                st = path.lstat()
                if last_used(st) < cutoff:
                    path.unlink()
                    removed += 1
                    freed += st.st_blocks * 512
            except FileNotFoundError:
                continue
        if Path(dirpath) != root:
            try:
                Path(dirpath).rmdir()  # only succeeds when empty
            except OSError:
                pass
    return Eviction(root, removed, freed)


def evict_npm(storage: Path, max_age_s: float, *, now: float | None = None) -> Eviction:
    """Verdaccio's storage: old tarballs; then packages with no tarball and old metadata."""
    result = evict(storage, max_age_s, now=now, match=lambda p: p.name.endswith(".tgz"))
    cutoff = (time.time() if now is None else now) - max_age_s
    removed, freed = result.files, result.bytes
    for meta in list(storage.rglob("package.json")):
        package = meta.parent
        try:
            if any(package.glob("*.tgz")) or last_used(meta.stat()) >= cutoff:
                continue
            size, count = disk_usage(package)
            shutil.rmtree(package)
            removed, freed = removed + count, freed + size
        except OSError:
            continue
    return Eviction(storage, removed, freed)
