"""A reflink pool as a loop-mounted btrfs/XFS image file, for hosts without one.

`setup_pool` creates the sparse image, makes the filesystem, mounts it on the pool
directory and writes a systemd `.mount` unit that mounts it again at boot. Every step
checks before acting, so a second run changes nothing and a run after an unmount just
mounts again. The image is mounted with `mount -o loop` rather than a separate
`losetup --find --show`: mount(8) then sets the loop device's autoclear flag, so unmounting
also detaches it and no loop device outlives its mount. `teardown_pool` undoes the mount.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from atelier.errors import CommandError
from atelier.runtime.host import proc
from atelier.runtime.host.detect import Verdict
from atelier.runtime.storage.config import PoolFs
from atelier.runtime.storage.errors import PoolUnavailable, StorageError
from atelier.runtime.storage.probe import loops_backed_by, mount_source, reflink_support

LABEL = "atl-pool"  # XFS labels hold at most 12 characters
MOUNT_OPTIONS = "loop,noatime"
SYSTEMD_UNIT_DIR = Path("/etc/systemd/system")
SYSTEMD_RUNNING = Path("/run/systemd/system")
WANTED_BY = "local-fs.target"
MKFS_TIMEOUT = 300.0
MOUNT_TIMEOUT = 60.0


@dataclass(frozen=True)
class PoolSpec:
    """Which image file, mounted where, how big, with which filesystem."""

    image: Path
    mount_dir: Path
    size: int  # bytes, for a new image
    fs: PoolFs


@dataclass(frozen=True)
class SetupReport:
    """What `setup_pool` did (empty `actions`: nothing needed doing) and the result."""

    spec: PoolSpec
    actions: tuple[str, ...]
    unit: Path | None
    reflink: Verdict


# --- commands and unit text (pure) ----------------------------------------------------------


def mkfs_argv(fs: PoolFs, image: Path) -> list[str]:
    """mkfs for a pool filesystem with reflink support, labelled atl-pool."""
    if fs == "btrfs":
        return ["mkfs.btrfs", "--quiet", "--label", LABEL, str(image)]
    return ["mkfs.xfs", "-q", "-m", "reflink=1", "-L", LABEL, str(image)]


def mount_argv(spec: PoolSpec) -> list[str]:
    """mount of the image through an autoclearing loop device."""
    return ["mount", "-t", spec.fs, "-o", MOUNT_OPTIONS, str(spec.image), str(spec.mount_dir)]


def umount_argv(mount_dir: Path) -> list[str]:
    """umount of the pool."""
    return ["umount", str(mount_dir)]


def detach_argv(device: str) -> list[str]:
    """losetup detaching a loop device left attached to the image."""
    return ["losetup", "--detach", device]


def blkid_argv(image: Path) -> list[str]:
    """blkid printing the filesystem type found in the image (exit 2: none)."""
    return ["blkid", "--probe", "--output", "value", "--match-tag", "TYPE", str(image)]


def unit_name(mount_dir: Path) -> str:
    """The systemd mount unit name for a path, as `systemd-escape --path --suffix=mount`."""
    path = os.path.normpath(os.fspath(mount_dir)).strip("/")
    if not path:
        return "-.mount"
    out = []
    for index, byte in enumerate(path.encode()):
        char = chr(byte)
        if char == "/":
            out.append("-")
        elif (char.isascii() and (char.isalnum() or char in ":_.")) and not (
            char == "." and index == 0
        ):
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out) + ".mount"


def mount_unit(spec: PoolSpec) -> str:
    """A systemd .mount unit that mounts the pool image at boot."""

    def quote(path: Path) -> str:
        return str(path).replace("%", "%%")

    return (
        "# Written by `atelier storage setup`: mounts the Atelier storage pool at boot.\n"
        "[Unit]\n"
        f"Description=Atelier storage pool ({spec.fs} in {quote(spec.image)})\n"
        f"RequiresMountsFor={quote(spec.image.parent)}\n"
        "\n"
        "[Mount]\n"
        f"What={quote(spec.image)}\n"
        f"Where={quote(spec.mount_dir)}\n"
        f"Type={spec.fs}\n"
        f"Options={MOUNT_OPTIONS}\n"
        "\n"
        "[Install]\n"
        f"WantedBy={WANTED_BY}\n"
    )


# --- doing it --------------------------------------------------------------------------------


def is_mounted(spec: PoolSpec) -> bool:
    """True when the pool directory is mounted from the pool image."""
    source = mount_source(spec.mount_dir)
    return source is not None and os.path.realpath(source) == os.path.realpath(spec.image)


async def setup_pool(spec: PoolSpec, *, unit_dir: Path | None = SYSTEMD_UNIT_DIR) -> SetupReport:
    """Create, format, mount and persist the pool; each step only when it is missing.

    `unit_dir=None` skips the boot unit. Raises PoolUnavailable when the mount point holds
    something else or the image holds another filesystem, StorageError when a command fails.
    """
    spec = PoolSpec(spec.image.absolute(), spec.mount_dir.absolute(), spec.size, spec.fs)
    actions: list[str] = []
    if not is_mounted(spec):
        _refuse_foreign_mount(spec)
        actions += await _ensure_image(spec)
        actions += await _mount(spec)
    unit = None
    if unit_dir is not None:
        unit, changed = _write_unit(spec, unit_dir)
        if changed:
            actions.append(f"wrote {unit} (mounts the pool at boot)")
            if unit_dir == SYSTEMD_UNIT_DIR and _exists(SYSTEMD_RUNNING):
                await _cmd(["systemctl", "daemon-reload"], MOUNT_TIMEOUT)
    return SetupReport(spec, tuple(actions), unit, reflink_support(spec.mount_dir))


async def teardown_pool(spec: PoolSpec, *, settle: float = 10.0) -> list[str]:
    """Unmount the pool and make sure no loop device stays attached to its image.

    The kernel releases an autoclear loop device shortly *after* umount returns, so this
    waits up to `settle` seconds for that before detaching leftovers itself. Leaves the
    image file and the unit in place. Returns what it did; raises StorageError when a loop
    device is still attached at the end.
    """
    actions = []
    if is_mounted(spec):
        await _cmd(umount_argv(spec.mount_dir), MOUNT_TIMEOUT)
        actions.append(f"unmounted {spec.mount_dir}")
    if not await _loops_released(spec.image, settle):
        for device in loops_backed_by(spec.image):
            await _cmd(detach_argv(device), MOUNT_TIMEOUT)
            actions.append(f"detached {device}")
        if not await _loops_released(spec.image, settle):
            left = ", ".join(loops_backed_by(spec.image))
            raise StorageError(f"loop device(s) {left} stay attached to {spec.image}")
    return actions


async def _loops_released(image: Path, settle: float) -> bool:
    deadline = asyncio.get_running_loop().time() + settle
    while loops_backed_by(image):
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _refuse_foreign_mount(spec: PoolSpec) -> None:
    source = mount_source(spec.mount_dir)
    if source is not None:
        raise PoolUnavailable(
            f"{spec.mount_dir} is already a mount point (of {source}), not of {spec.image}",
            field="storage.pool_dir",
            hint="unmount it or choose another storage.pool_dir",
        )
    if spec.mount_dir.is_dir() and any(spec.mount_dir.iterdir()):
        raise PoolUnavailable(
            f"{spec.mount_dir} is not empty; mounting the pool there would hide its files",
            field="storage.pool_dir",
            hint="move its contents away or choose another storage.pool_dir",
        )


async def _ensure_image(spec: PoolSpec) -> list[str]:
    actions = []
    if not _exists(spec.image):
        spec.image.parent.mkdir(parents=True, exist_ok=True)
        with open(spec.image, "xb") as image:  # creating an empty file is instant
            image.truncate(spec.size)
        actions.append(f"created {spec.image} ({spec.size // 1024**2} MiB, sparse)")
        found = ""
    else:
        found = await _fs_in(spec.image)
    if not found:
        await _cmd(mkfs_argv(spec.fs, spec.image), MKFS_TIMEOUT)
        actions.append(f"formatted {spec.image} as {spec.fs}")
    elif found != spec.fs:
        raise PoolUnavailable(
            f"{spec.image} holds a {found} filesystem, not {spec.fs}",
            field="storage.pool_fs",
            hint=f"set storage.pool_fs to {found}, or move the image away to make a new one",
        )
    return actions


async def _mount(spec: PoolSpec) -> list[str]:
    spec.mount_dir.mkdir(parents=True, exist_ok=True)
    await _cmd(mount_argv(spec), MOUNT_TIMEOUT)
    return [f"mounted {spec.image} on {spec.mount_dir}"]


async def _fs_in(image: Path) -> str:
    done = await proc.run(blkid_argv(image), timeout=MOUNT_TIMEOUT, check=False)
    if done.returncode == 2:  # blkid: no filesystem signature found
        return ""
    if done.returncode != 0:
        raise StorageError(f"cannot inspect {image}: blkid exited {done.returncode}")
    return done.text.strip()


def _write_unit(spec: PoolSpec, unit_dir: Path) -> tuple[Path, bool]:
    name = unit_name(spec.mount_dir)
    path = unit_dir / name
    text = mount_unit(spec)
    changed = False
    if not path.exists() or path.read_text() != text:
        unit_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
        changed = True
    wants = unit_dir / f"{WANTED_BY}.wants" / name
    if not wants.is_symlink():  # what `systemctl enable` creates
        wants.parent.mkdir(parents=True, exist_ok=True)
        wants.symlink_to(path)
        changed = True
    return path, changed


async def _cmd(argv: list[str], timeout: float) -> None:
    try:
        await proc.run(argv, timeout=timeout)
    except CommandError as exc:
        raise StorageError(f"storage pool setup failed: {exc.message}") from exc


def _exists(path: Path) -> bool:
    return path.exists()
