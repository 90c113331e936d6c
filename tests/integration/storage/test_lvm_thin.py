"""The lvm-thin driver against real LVM on a loop device. Runs only where device-mapper
works (/dev/mapper/control and `dmsetup version`); skipped with the reason elsewhere."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atelier.errors import AtelierError
from atelier.runtime.host import names, proc
from atelier.runtime.storage import VolumeHasClones, select_storage
from atelier.runtime.storage.config import MIB, StorageConfig
from atelier.runtime.storage.lvm_thin import LvmThinStorage
from atelier.runtime.storage.probe import device_mapper
from tests.integration.storage.conftest import (
    debugfs_cat,
    debugfs_write,
    fsck_clean,
    require,
    sha256,
)

pytestmark = pytest.mark.root

BASE = names.base_volume("minimal", "1f1f1f1f")


@pytest.fixture
async def thin_pool(tmp_path: Path) -> AsyncIterator[StorageConfig]:
    """A VG with a 512 MiB thin pool on a loop device; everything removed afterwards."""
    require("lvm", "lvcreate", "dmsetup", "losetup", "pvcreate", "vgcreate")
    verdict = await device_mapper()
    if not verdict.ok:
        pytest.skip(f"needs device-mapper: {verdict.reason}")
    backing = _sparse(tmp_path / "pv.img", 1024 * MIB)
    vg = f"atl-test-{names.new_id()}"
    device = (await proc.run(["losetup", "--find", "--show", backing], timeout=30)).text.strip()
    try:
        await proc.run(["pvcreate", "--yes", device], timeout=60)
        await proc.run(["vgcreate", vg, device], timeout=60)
        await proc.run(
            ["lvcreate", "--yes", "--type", "thin-pool", "--size", "512m",
             "--name", "atl-thinpool", vg],
            timeout=60,
        )  # fmt: skip
        yield StorageConfig(driver="lvm-thin", volume_group=vg, reserve_gb=0)
    finally:
        for argv in (
            ["vgremove", "--yes", "--force", vg],
            ["pvremove", "--yes", "--force", device],
            ["losetup", "--detach", device],
        ):
            with contextlib.suppress(AtelierError):
                await proc.run(argv, timeout=60)


async def test_thin_clones_are_isolated(
    thin_pool: StorageConfig, ext4_image: Path, tmp_path: Path
) -> None:
    chosen = await select_storage(thin_pool.model_copy(update={"driver": "auto"}), tmp_path)
    assert isinstance(chosen.storage, LvmThinStorage), chosen.reason
    storage = chosen.storage
    base = await storage.import_base(ext4_image, BASE)
    assert base.read_only and base.path.is_block_device()
    base_sum = sha256(base.path)
    one, two = names.sandbox_volume(names.new_id()), names.sandbox_volume(names.new_id())
    clone1 = await storage.clone(BASE, one, size=64 * MIB)
    clone2 = await storage.clone(BASE, two)
    assert clone1.size >= 64 * MIB and not clone1.read_only and clone1.origin == BASE
    await debugfs_write(clone1.path, {"mark": b"one\n"}, tmp_path / "1")
    await debugfs_write(clone2.path, {"mark": b"two\n"}, tmp_path / "2")
    assert await debugfs_cat(clone1.path, "/mark") == b"one\n"
    assert await debugfs_cat(clone2.path, "/mark") == b"two\n"
    assert await debugfs_cat(base.path, "/mark") is None
    assert await fsck_clean(clone1.path)
    assert sha256(base.path) == base_sum
    with pytest.raises(VolumeHasClones):
        await storage.delete(BASE)
    prebuild = await storage.snapshot(one, names.prebuild_volume(names.new_id()))
    assert prebuild.read_only
    usage = await storage.usage()
    assert usage.pool.volumes == 4 and usage.pool.used > 0
    for name in (prebuild.name, one, two, BASE):
        await storage.delete(name)
    assert await storage.list() == ()


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path
