"""Clones booted for real: two VMs on two reflink clones of one base never see each other's
writes, the base is unchanged, and a guest filling a tiny pool pauses instead of corrupting."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from pathlib import Path

import pytest

from atelier.core.assets import BootAssets
from atelier.errors import AtelierError
from atelier.runtime.host import names, proc
from atelier.runtime.storage import PoolWatcher
from atelier.runtime.storage.config import StorageConfig
from atelier.runtime.storage.reflink import ReflinkStorage
from atelier.runtime.vmm.base import Disk
from tests.integration.storage.conftest import MakePool
from tests.vmkit import booted_vm, host_config

pytestmark = [pytest.mark.vm, pytest.mark.root]

GIB = 1 << 30


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.parametrize("fs", ["btrfs", "xfs"])
async def test_two_booted_clones_are_isolated(
    make_pool: MakePool, fs: str, artifacts_dir: Path
) -> None:
    config = host_config()
    image = BootAssets(config).image("minimal")
    pool = await make_pool(fs, 6 * 1024)  # type: ignore[arg-type]  # "btrfs" | "xfs"
    storage = ReflinkStorage(pool, StorageConfig(driver="reflink", pool_dir=pool))
    base = names.base_volume("minimal", image.manifest.sha256)
    await storage.import_base(image.path, base)
    base_volume = await storage.get(base)
    base_digest = sha256(base_volume.path)
    a, b = names.sandbox_volume(names.new_id()), names.sandbox_volume(names.new_id())
    vol_a = await storage.clone(base, a, size=3 * GIB)
    vol_b = await storage.clone(base, b, size=3 * GIB)
    try:
        async with (
            booted_vm(
                config,
                disks=(Disk(vol_a.path),),
                cmdline=("atelier.resize=1",),
                artifacts=artifacts_dir,
            ) as vm_a,
            booted_vm(
                config,
                disks=(Disk(vol_b.path),),
                cmdline=("atelier.resize=1",),
                artifacts=artifacts_dir,
            ) as vm_b,
        ):
            await vm_a.client.write_file("/root/marker", b"written in A\n")
            await vm_b.client.write_file("/root/marker-b", b"written in B\n")
            for vm in (vm_a, vm_b):
                assert (await vm.client.exec(["sync"])).exit_code == 0
            assert await vm_a.client.read_file("/root/marker") == b"written in A\n"
            seen_b = await vm_b.client.exec(["cat", "/root/marker"])
            assert seen_b.exit_code != 0, "B sees A's file"
            seen_a = await vm_a.client.exec(["cat", "/root/marker-b"])
            assert seen_a.exit_code != 0, "A sees B's file"
            # The guest grew its filesystem to the clone's size at boot.
            size = await vm_a.client.exec(["df", "-B1", "--output=size", "/"])
            assert int(size.stdout.split()[-1]) > 2 * GIB
        assert sha256(base_volume.path) == base_digest, "the base image changed"
    finally:
        for name in (a, b):
            await storage.delete(name)
        await storage.delete(base)


async def test_guest_filling_a_tiny_pool_is_paused_not_corrupted(
    make_pool: MakePool, artifacts_dir: Path
) -> None:
    config = host_config()
    image = BootAssets(config).image("minimal")
    pool = await make_pool("xfs", 1600)
    storage = ReflinkStorage(
        pool, StorageConfig(driver="reflink", pool_dir=pool, reserve_gb=0, reserve_percent=0)
    )
    base = names.base_volume("minimal", image.manifest.sha256)
    await storage.import_base(image.path, base)
    filler, other = names.sandbox_volume(names.new_id()), names.sandbox_volume(names.new_id())
    vol = await storage.clone(base, filler, size=4 * GIB)
    other_vol = await storage.clone(base, other)
    # Space the test can give back later: a plain file in the pool, not a volume.
    ballast = pool / "ballast"
    with ballast.open("wb") as fh:
        for _ in range(400):
            fh.write(b"\xa5" * (1 << 20))
    other_digest = sha256(other_vol.path)
    base_digest = sha256((await storage.get(base)).path)
    free_mb = (await storage.pool_usage()).free >> 20
    events: list[str] = []
    watcher = PoolWatcher(storage, lambda event: events.append(event.level), interval=0.5)
    try:
        async with booted_vm(
            config, disks=(Disk(vol.path),), cmdline=("atelier.resize=1",), artifacts=artifacts_dir
        ) as vm:
            # More than the pool holds, less than the pool plus the ballast.
            count = free_mb + 150
            writer = await vm.client.exec_stream(
                ["dd", "if=/dev/urandom", "of=/root/fill", "bs=1M", f"count={count}", "conv=fsync"]
            )
            state = ""
            for _ in range(900):
                state = await vm.vmm.run_state(vm.handle) or ""
                if state == "io-error":
                    break
                await asyncio.sleep(0.5)
            assert state == "io-error", f"the VM was not paused on a full pool (state {state!r})"
            await watcher.check()
            assert events == ["full"], events
            # The other volumes are intact while the filler is paused.
            assert sha256(other_vol.path) == other_digest
            assert sha256((await storage.get(base)).path) == base_digest
            # Give space back and resume: the guest finishes its write, nothing lost.
            ballast.unlink()
            await vm.vmm.resume(vm.handle)
            result = await writer.wait()
            assert result.exit_code == 0, result
            size = await vm.client.exec(["stat", "-c", "%s", "/root/fill"])
            assert int(size.stdout) == count << 20
            # A clean shutdown, so the check below sees the filesystem as the guest left it.
            await vm.client.poweroff()
            assert await proc.wait_for_exit(vm.handle.pid, 60)
        check = await proc.run(["e2fsck", "-fn", vol.path], timeout=300, check=False)
        assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    finally:
        ballast.unlink(missing_ok=True)
        for name in (filler, other):
            with contextlib.suppress(AtelierError):
                await storage.delete(name)
        await storage.delete(base)
