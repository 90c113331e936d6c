"""The jailer's argv, the chroot layout and the cgroup limits."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from atelier.runtime.host import names
from atelier.runtime.vmm.errors import VmmError
from atelier.runtime.vmm.firecracker import jailer, process
from atelier.runtime.vmm.firecracker.jailer import Jail

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown to the jail's uid)")


def test_jailer_argv() -> None:
    argv = process.jailer_argv(
        "/usr/local/bin/jailer",
        exec_file="/usr/local/bin/firecracker",
        vm_id="atl-sbx-abcdefgh",
        uid=1000,
        gid=1000,
        chroot_base=Path("/srv/jailer"),
        cgroups=jailer.cgroup_limits(2, 1024),
        netns=Path("/var/run/netns/atl-abcdefgh"),
    )
    assert argv == [
        "/usr/local/bin/jailer",
        "--id", "atl-sbx-abcdefgh",
        "--exec-file", "/usr/local/bin/firecracker",
        "--uid", "1000",
        "--gid", "1000",
        "--chroot-base-dir", "/srv/jailer",
        "--cgroup-version", "2",
        "--cgroup", "cpu.max=200000 100000",
        "--cgroup", f"memory.max={(1024 + 64) * 1024 * 1024}",
        "--netns", "/var/run/netns/atl-abcdefgh",
        "--new-pid-ns",
        "--",
        "--api-sock", "/run/firecracker.socket",
    ]  # fmt: skip


def test_jailer_argv_daemonize_and_no_pid_ns() -> None:
    argv = process.jailer_argv(
        "jailer", exec_file="fc", vm_id="x", uid=1, gid=2, chroot_base=Path("/j"),
        daemonize=True, new_pid_ns=False,
    )  # fmt: skip
    assert "--daemonize" in argv and "--new-pid-ns" not in argv
    assert "--cgroup" not in argv and "--netns" not in argv


@pytest.mark.parametrize(
    ("vcpus", "memory_mb", "cpu", "memory"),
    [
        (1, 512, "100000 100000", (512 + 64) << 20),
        (4, 8192, "400000 100000", (8192 + 256) << 20),
    ],
)
def test_cgroup_limits(vcpus: int, memory_mb: int, cpu: str, memory: int) -> None:
    assert jailer.cgroup_limits(vcpus, memory_mb) == {"cpu.max": cpu, "memory.max": str(memory)}


def test_chroot_layout() -> None:
    root = jailer.chroot_root(Path("/srv/jailer"), "atl-sbx-abcdefgh")
    assert root == Path("/srv/jailer/firecracker/atl-sbx-abcdefgh/root")
    assert jailer.cgroup_dir("atl-sbx-abcdefgh") == Path(
        "/sys/fs/cgroup/firecracker/atl-sbx-abcdefgh"
    )


@needs_root
def test_jail_links_files_and_owns_what_firecracker_writes(tmp_path: Path) -> None:
    vm_id = names.vm_name("tst", names.new_id())
    root = jailer.chroot_root(tmp_path / "jail", vm_id)
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(b"kernel")
    kernel.chmod(0o644)
    private = tmp_path / "initrd"
    private.write_bytes(b"initrd")
    private.chmod(0o600)
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"disk")
    jail = Jail(root, uid=1000, gid=1000)
    jail.create()
    assert jail.place(kernel, process.KERNEL, writable=False).how == "link"
    assert jail.place(private, process.INITRD, writable=False).how == "copy"
    assert jail.place(disk, "disk0", writable=True).how == "link"
    assert (root / "disk0").stat().st_ino == disk.stat().st_ino
    assert disk.stat().st_uid == 1000
    assert (root / process.KERNEL).stat().st_uid == os.getuid()
    assert (root / process.INITRD).stat().st_uid == 1000
    for name in ("run", process.LOG, process.METRICS):
        assert (root / name).stat().st_uid == 1000
    with pytest.raises(VmmError, match="already exists"):
        Jail(root, 1000, 1000).create()
    jailer.remove_jail(tmp_path / "jail", vm_id)
    assert not root.parent.exists()
    assert disk.read_bytes() == b"disk" and kernel.exists()


@needs_root
def test_jail_gives_block_devices_a_node(tmp_path: Path) -> None:
    device = next((p for p in Path("/dev").glob("loop[0-9]*") if p.is_block_device()), None)
    if device is None:
        pytest.skip("needs a block device node such as /dev/loop0")
    jail = Jail(tmp_path / "root", uid=1000, gid=1000)
    (tmp_path / "root").mkdir()
    placed = jail.place(device, "disk0", writable=True)
    node = (tmp_path / "root" / "disk0").stat()
    assert placed.how == "node" and stat.S_ISBLK(node.st_mode)
    assert node.st_rdev == device.stat().st_rdev and node.st_uid == 1000


@needs_root
def test_writable_disk_on_another_filesystem_is_refused(tmp_path: Path) -> None:
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the test directory")
    disk = other / f"atl-test-{names.new_id()}.img"
    disk.write_bytes(b"disk")
    try:
        jail = Jail(tmp_path / "root", uid=1000, gid=1000)
        (tmp_path / "root").mkdir()
        with pytest.raises(VmmError, match="cannot hard-link writable disk"):
            jail.place(disk, "disk0", writable=True)
        assert jail.place(disk, "ro", writable=False).how == "copy"
    finally:
        disk.unlink()


def test_remove_jail_refuses_foreign_names(tmp_path: Path) -> None:
    with pytest.raises(VmmError, match="not an Atelier VM name"):
        jailer.remove_jail(tmp_path, "someone-elses-vm")
