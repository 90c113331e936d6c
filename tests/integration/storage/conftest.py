"""Fixtures for storage integration tests: loop-mounted btrfs/XFS pools and ext4 images.

Every pool a test makes is unmounted and its loop device detached in the fixture's
`finally`, also when the test fails; the fixture then checks that no loop device is left
attached to any of its images.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from atelier.runtime.host import proc
from atelier.runtime.storage import PoolSpec, setup_pool, teardown_pool
from atelier.runtime.storage.config import MIB, PoolFs
from atelier.runtime.storage.probe import loops_backed_by

MakePool = Callable[[PoolFs, int], Awaitable[Path]]

MKFS = {"btrfs": "mkfs.btrfs", "xfs": "mkfs.xfs"}


def require(*tools: str, root: bool = True) -> None:
    """Skip unless every tool is installed (and, with `root`, unless running as root)."""
    if root and os.geteuid() != 0:
        pytest.skip("needs root (loop devices and mounts)")
    for tool in tools:
        if proc.which(tool) is None:
            package = proc.TOOL_PACKAGES.get(tool, tool)
            pytest.skip(f"needs {tool} (apt-get install {package})")


@pytest.fixture
async def make_pool(tmp_path: Path) -> AsyncIterator[MakePool]:
    """A factory for loop-mounted pools in tmp_path: `await make_pool("btrfs", 256)`."""
    specs: list[PoolSpec] = []

    async def make(fs: PoolFs, size_mib: int) -> Path:
        require(MKFS[fs], "mount", "umount", "losetup", "blkid")
        index = len(specs)
        spec = PoolSpec(
            tmp_path / f"{fs}{index}.img", tmp_path / f"{fs}{index}", size_mib * MIB, fs
        )
        specs.append(spec)
        await setup_pool(spec, unit_dir=None)
        return spec.mount_dir

    try:
        yield make
    finally:
        errors = []
        for spec in reversed(specs):
            try:
                await teardown_pool(spec)
            except Exception as exc:  # keep tearing down the others
                errors.append(exc)
        leftover = [dev for spec in specs for dev in loops_backed_by(spec.image)]
        assert not errors, errors
        assert not leftover, f"loop devices left attached: {leftover}"


async def make_ext4(path: Path, tree: dict[str, bytes], size_mib: int = 32) -> Path:
    """A raw ext4 image holding `tree` ({relative path: content}), made with mkfs.ext4 -d."""
    require("mkfs.ext4", root=False)
    root = path.with_suffix(".tree")
    for rel, data in tree.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    await proc.run(
        ["mkfs.ext4", "-q", "-F", "-L", "rootfs", "-d", root, path, f"{size_mib}M"], timeout=120
    )
    return path


@pytest.fixture
async def ext4_image(tmp_path: Path) -> Path:
    """A 32 MiB ext4 image with a few files and 8 MiB of incompressible data."""
    tree = {
        "etc/hostname": b"atelier-test\n",
        "home/dev/README": b"base image\n",
        "var/data.bin": os.urandom(8 * MIB),
    }
    return await make_ext4(tmp_path / "base.ext4", tree)


async def debugfs_write(image: Path, files: dict[str, bytes], scratch: Path) -> None:
    """Write files into the root directory of an ext4 image with `debugfs -w`."""
    require("debugfs", root=False)
    script = _stage(files, scratch)
    await proc.run(["debugfs", "-w", "-f", script, image], timeout=60)


def _stage(files: dict[str, bytes], scratch: Path) -> Path:
    scratch.mkdir(parents=True, exist_ok=True)
    commands = []
    for name, data in files.items():
        host = scratch / name
        host.write_bytes(data)
        commands.append(f"write {host} {name}")
    script = scratch / "commands"
    script.write_text("\n".join(commands) + "\n")
    return script


async def debugfs_cat(image: Path, path: str) -> bytes | None:
    """A file's bytes from an ext4 image, or None when it does not exist there."""
    require("debugfs", root=False)
    done = await proc.run(["debugfs", "-R", f"cat {path}", image], timeout=60)
    if b"not found" in done.stderr.lower():
        return None
    return done.stdout


async def fsck_clean(image: Path) -> bool:
    """True when `e2fsck -fn` finds nothing wrong."""
    done = await proc.run(["e2fsck", "-fn", image], timeout=120, check=False)
    return done.returncode == 0


def sha256(path: Path) -> str:
    """Checksum of a file or device."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()
