"""What the host's storage can do: filesystem type, reflink support, device-mapper, LVM.

Every probe returns a `Verdict` (answer plus reason) so `select.py` and `atelier storage
status` can say why a driver was chosen. `HostProbes` bundles the real probes behind the
`StorageProbes` Protocol that tests replace with a fake.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from atelier.errors import AtelierError
from atelier.runtime.host import proc
from atelier.runtime.host.detect import Verdict
from atelier.runtime.storage._extents import ficlone

DM_CONTROL = Path("/dev/mapper/control")
SYS_BLOCK = Path("/sys/block")
MOUNTINFO = Path("/proc/self/mountinfo")

# f_type magic numbers from linux/magic.h for the filesystems Atelier meets.
FS_MAGIC: dict[int, str] = {
    0x9123683E: "btrfs",
    0x58465342: "xfs",
    0xEF53: "ext4",
    0x01021994: "tmpfs",
    0x794C7630: "overlay",
    0x6969: "nfs",
    0x2FC12FC1: "zfs",
    0xF2F52010: "f2fs",
    0x65735546: "fuse",
}
REFLINK_FILESYSTEMS = ("btrfs", "xfs")


def existing_ancestor(path: Path) -> Path:
    """`path` itself, or its nearest existing parent (what a new directory would live on)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def fs_type(path: Path) -> str:
    """The filesystem type of `path` from statfs(2) f_type ('btrfs', 'xfs', 'ext4', …,
    or 'unknown (0x…)'). Raises OSError when `path` does not exist."""
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    if _libc().statfs(os.fsencode(path), buf) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(path))
    magic = struct.unpack_from("l", buf.raw, 0)[0] & 0xFFFFFFFF
    return FS_MAGIC.get(magic, f"unknown (0x{magic:x})")


def reflink_support(path: Path) -> Verdict:
    """Whether files under `path` can be reflinked, found by cloning a 4 KiB probe file."""
    where = existing_ancestor(path)
    try:
        fs = fs_type(where)
    except OSError as exc:
        return Verdict(False, f"cannot inspect {where}: {exc.strerror}")
    try:
        with (
            tempfile.TemporaryFile(dir=where, prefix=".atl-probe-") as src,
            tempfile.TemporaryFile(dir=where, prefix=".atl-probe-") as dst,
        ):
            src.write(b"atelier reflink probe\n".ljust(4096, b"."))
            src.flush()
            ficlone(src.fileno(), dst.fileno())
    except OSError as exc:
        why = exc.strerror or str(exc)
        return Verdict(False, f"{where} is on {fs}, which cannot reflink (FICLONE: {why})")
    return Verdict(True, f"{where} is on {fs} and FICLONE works (copy-on-write clones)")


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo."""

    mount_point: str
    fstype: str
    source: str


def parse_mountinfo(text: str) -> list[MountEntry]:
    """The mounts listed in /proc/self/mountinfo text, in mount order."""
    entries = []
    for line in text.splitlines():
        fields = line.split(" ")
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if sep < 5 or len(fields) < sep + 3:
            continue
        entries.append(
            MountEntry(_unescape(fields[4]), _unescape(fields[sep + 1]), _unescape(fields[sep + 2]))
        )
    return entries


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def loop_backing_file(device: str, sys_block: Path = SYS_BLOCK) -> str | None:
    """The file behind loop device `device` (/dev/loopN), None when it is not one."""
    name = Path(device).name
    if not name.startswith("loop"):
        return None
    try:
        backing = (sys_block / name / "loop" / "backing_file").read_text().strip()
    except OSError:
        return None
    return backing.removesuffix(" (deleted)") or None


def loops_backed_by(image: Path, sys_block: Path = SYS_BLOCK) -> list[str]:
    """Every /dev/loopN attached to `image`."""
    wanted = os.path.realpath(image)
    found = []
    for entry in sorted(sys_block.glob("loop*/loop/backing_file")):
        try:
            backing = entry.read_text().strip()
        except OSError:
            continue
        if os.path.realpath(backing.removesuffix(" (deleted)")) == wanted:
            found.append(f"/dev/{entry.parent.parent.name}")
    return found


def mount_source(
    mount_dir: Path, mountinfo: Path = MOUNTINFO, sys_block: Path = SYS_BLOCK
) -> str | None:
    """What is mounted at `mount_dir`: a loop device's backing file, else the device;
    None when `mount_dir` is not a mount point."""
    wanted = os.path.realpath(mount_dir)
    try:
        entries = parse_mountinfo(mountinfo.read_text())
    except OSError:
        return None
    source = None
    for entry in entries:  # the last mount on a point is the visible one
        if entry.mount_point == wanted:
            source = entry.source
    if source is None:
        return None
    return loop_backing_file(source, sys_block) or source


def _exists(path: Path) -> bool:
    return path.exists()


async def device_mapper() -> Verdict:
    """Whether the kernel's device-mapper is usable: /dev/mapper/control and `dmsetup version`."""
    if not _exists(DM_CONTROL):
        return Verdict(False, f"{DM_CONTROL} does not exist (no device-mapper in this kernel)")
    try:
        done = await proc.run(["dmsetup", "version"], timeout=10, check=False)
    except AtelierError as exc:
        return Verdict(False, f"dmsetup unavailable: {exc.message}")
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"]
        return Verdict(False, f"device-mapper does not work (`dmsetup version`: {lines[0]})")
    return Verdict(True, "device-mapper works (dmsetup version)")


async def thin_pool(volume_group: str, pool: str) -> Verdict:
    """Whether LV `volume_group/pool` exists and is a thin pool."""
    argv = ["lvs", "--noheadings", "-o", "segtype", f"{volume_group}/{pool}"]
    try:
        done = await proc.run(argv, timeout=30, check=False)
    except AtelierError as exc:
        return Verdict(False, f"lvm unavailable: {exc.message}")
    if done.returncode != 0:
        return Verdict(False, f"no LV {volume_group}/{pool} (lvs exited {done.returncode})")
    segtype = done.text.strip()
    if segtype != "thin-pool":
        return Verdict(
            False, f"{volume_group}/{pool} is a {segtype or 'unknown'} LV, not thin-pool"
        )
    return Verdict(True, f"thin pool {volume_group}/{pool} exists")


class StorageProbes(Protocol):
    """The host facts driver selection depends on (real: HostProbes; tests: a fake)."""

    async def device_mapper(self) -> Verdict:
        """Whether device-mapper works."""
        ...

    async def thin_pool(self, volume_group: str, pool: str) -> Verdict:
        """Whether the thin pool exists."""
        ...

    def reflink(self, path: Path) -> Verdict:
        """Whether `path` supports FICLONE."""
        ...

    def mounted_from(self, mount_dir: Path) -> str | None:
        """The device or image a directory is mounted from, None when not a mount point."""
        ...


class HostProbes:
    """The real probes."""

    async def device_mapper(self) -> Verdict:
        """Whether device-mapper works."""
        return await device_mapper()

    async def thin_pool(self, volume_group: str, pool: str) -> Verdict:
        """Whether the thin pool exists."""
        return await thin_pool(volume_group, pool)

    def reflink(self, path: Path) -> Verdict:
        """Whether `path` supports FICLONE."""
        return reflink_support(path)

    def mounted_from(self, mount_dir: Path) -> str | None:
        """The source of the mount at `mount_dir`, resolved to a loop device's backing file."""
        return mount_source(mount_dir)
