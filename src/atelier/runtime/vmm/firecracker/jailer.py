"""The jail of one Firecracker VM: chroot contents, ownership and cgroup v2 limits.

The jailer creates the chroot `<base>/firecracker/<id>/root`, the device nodes (/dev/kvm,
/dev/net/tun), copies the binary in, joins cgroups and drops to uid/gid. What the VM uses
(kernel, initrd, drives, snapshot files) must be placed in the chroot beforehand: that is
this module's job. It never copies a writable disk, since writes would land in the copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from atelier.runtime.host import names
from atelier.runtime.vmm.errors import VmmError
from atelier.runtime.vmm.firecracker import process

EXEC_NAME = "firecracker"
CPU_PERIOD_US = 100_000
# Firecracker's own overhead is a few MiB; the margin also covers page tables and the
# page cache the VMM's disk I/O charges to the cgroup.
MEMORY_OVERHEAD_MIN_MB = 64
CGROUP_ROOT = Path("/sys/fs/cgroup")


def chroot_root(chroot_base: Path, vm_id: str) -> Path:
    """`<chroot_base>/firecracker/<vm_id>/root`, the jailed Firecracker's `/`."""
    return chroot_base / EXEC_NAME / vm_id / "root"


def cgroup_limits(vcpus: int, memory_mb: int) -> dict[str, str]:
    """cgroup v2 files for the jail: CPU time of `vcpus` cores, guest memory plus overhead."""
    overhead_mb = max(MEMORY_OVERHEAD_MIN_MB, memory_mb // 32)
    return {
        "cpu.max": f"{vcpus * CPU_PERIOD_US} {CPU_PERIOD_US}",
        "memory.max": str((memory_mb + overhead_mb) * 1024 * 1024),
    }


def cgroup_dir(vm_id: str, root: Path = CGROUP_ROOT) -> Path:
    """The cgroup the jailer creates (default parent: the exec file name)."""
    return root / EXEC_NAME / vm_id


@dataclass(frozen=True)
class Placed:
    """A host file made available inside the jail under `name`."""

    source: Path
    name: str
    how: str  # "link", "node", "copy"


class Jail:
    """Prepares and removes the chroot of one VM, owned by the jailer's uid/gid."""

    def __init__(self, root: Path, uid: int, gid: int) -> None:
        self.root = root
        self.uid = uid
        self.gid = gid

    def create(self) -> None:
        """The root, its `run/` (API socket) and the log and metrics files Firecracker opens."""
        if self.root.parent.exists():
            raise VmmError(
                f"jail {self.root.parent} already exists",
                hint="a VM of that name runs or was not cleaned up; stop or kill it first",
            )
        self.root.mkdir(parents=True, mode=0o755)
        run = self.root / "run"
        run.mkdir(mode=0o755)
        os.chown(run, self.uid, self.gid)
        for name in (process.LOG, process.METRICS):
            path = self.root / name
            path.touch(mode=0o600)
            os.chown(path, self.uid, self.gid)

    def place(self, source: Path, name: str, *, writable: bool) -> Placed:
        """Make `source` visible as `/<name>` in the jail.

        Regular files are hard-linked (same filesystem) or, when read-only, copied; block
        devices get a device node with the same numbers. Raises VmmError when a writable
        file lies on another filesystem.
        """
        target = self.root / name
        info = source.stat()
        if stat.S_ISBLK(info.st_mode):
            os.mknod(target, stat.S_IFBLK | 0o600, info.st_rdev)
            os.chown(target, self.uid, self.gid)
            return Placed(source, name, "node")
        if not stat.S_ISREG(info.st_mode):
            raise VmmError(
                f"{source} is neither a regular file nor a block device",
                hint="drives, kernels and snapshots must be files or block devices",
            )
        try:
            os.link(source, target)
        except OSError as exc:
            if writable:
                raise VmmError(
                    f"cannot hard-link writable disk {source} into the jail {self.root}:"
                    f" {exc.strerror}",
                    hint="keep vmm.jailer_chroot_base on the filesystem holding the volumes"
                    " (or use block-device volumes such as lvm-thin)",
                ) from exc
            shutil.copyfile(source, target)
            os.chown(target, self.uid, self.gid)
            return Placed(source, name, "copy")
        if writable:
            # Shares the inode: the volume itself now belongs to the jail's user.
            os.chown(target, self.uid, self.gid)
        elif not info.st_mode & stat.S_IROTH and info.st_uid != self.uid:
            target.unlink()
            shutil.copyfile(source, target)
            os.chown(target, self.uid, self.gid)
            return Placed(source, name, "copy")
        return Placed(source, name, "link")

    def take(self, name: str, destination: Path) -> None:
        """Move a file Firecracker wrote in the jail (a snapshot) out to `destination`."""
        source = self.root / name
        os.chown(source, os.getuid(), os.getgid())
        shutil.move(source, destination)


def remove_jail(chroot_base: Path, vm_id: str) -> None:
    """Delete `<chroot_base>/firecracker/<vm_id>` (only for Atelier's own VM names)."""
    if names.parse_vm(vm_id) is None:
        raise VmmError(f"refusing to remove the jail of {vm_id!r}: not an Atelier VM name")
    jail_dir = chroot_root(chroot_base, vm_id).parent
    # Device nodes and hard links are removed as directory entries; sources stay.
    shutil.rmtree(jail_dir, ignore_errors=True)


def remove_cgroup(vm_id: str, root: Path = CGROUP_ROOT) -> None:
    """Remove the VM's (now empty) cgroup; a cgroup with live processes stays."""
    with contextlib.suppress(OSError):
        cgroup_dir(vm_id, root).rmdir()
