"""Root filesystem trees in the build cache: measuring, copying and safely deleting them.

A tree may still have something mounted inside it when a build is killed (mmdebstrap
mounts /proc, /sys and /dev while it runs). `shutil.rmtree` would then walk into the host's
/dev, so `remove_tree()` unmounts first and refuses to delete while anything is mounted.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from atelier.runtime.host import proc
from atelier.runtime.images.base import BuildEvents
from atelier.runtime.images.errors import ImageBuildError
from atelier.runtime.images.logged import run_logged

MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Usage:
    """How much a tree holds."""

    apparent: int  # sum of file lengths
    allocated: int  # sum of allocated blocks
    files: int  # every entry (files, dirs, links, nodes)


def tree_usage(root: Path) -> Usage:
    """Measure a tree without following symlinks or leaving its filesystem.

    A file with several hard links counts once (npm packages hard-link big binaries, and
    `mkfs.ext4 -d` keeps the links).
    """
    apparent = allocated = files = 0
    device = root.stat().st_dev
    seen: set[int] = set()
    for top, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(top, d)).st_dev == device]
        for name in (*dirs, *names):
            info = os.lstat(os.path.join(top, name))
            files += 1
            if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
                if info.st_ino in seen:
                    continue
                seen.add(info.st_ino)
            apparent += info.st_size
            allocated += info.st_blocks * 512
    return Usage(apparent, allocated, files)


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    return _OCTAL.sub(lambda match: chr(int(match[1], 8)), field)


def mounts_under(path: Path, mountinfo: str | None = None) -> list[str]:
    """Mount points at or below `path`, deepest first."""
    text = mountinfo if mountinfo is not None else MOUNTINFO.read_text()
    base = os.path.realpath(path) if mountinfo is None else os.fspath(path)
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 4:
            point = _unescape(fields[4])
            if point == base or point.startswith(base.rstrip("/") + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


async def remove_tree(path: Path) -> None:
    """Delete a tree, unmounting anything inside it first; ImageBuildError if that fails."""
    if not _exists(path):
        return
    for point in mounts_under(path):
        await proc.run(["umount", "--lazy", point], timeout=60, check=False)
    left = mounts_under(path)
    if left:
        raise ImageBuildError(
            f"refusing to delete {path}: still mounted inside it: {', '.join(left)}",
            hint=f"unmount them (umount -R {left[-1]}) and delete {path} by hand",
        )
    await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


async def copy_tree(source: Path, dest: Path, *, log: Path, events: BuildEvents) -> None:
    """Copy a tree keeping owners, modes, links and hard links (reflinks where possible)."""
    await run_logged(
        ["cp", "-a", "--reflink=auto", source, dest], log=log, timeout=3600, events=events
    )
