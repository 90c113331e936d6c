"""The reflink driver on real btrfs and XFS pools (loop-mounted): clones are isolated."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atelier.runtime.host import names
from atelier.runtime.storage import VolumeHasClones, select_storage
from atelier.runtime.storage.config import MIB, PoolFs, StorageConfig
from atelier.runtime.storage.reflink import ReflinkStorage
from tests.integration.storage.conftest import (
    MakePool,
    debugfs_cat,
    debugfs_write,
    fsck_clean,
    sha256,
)

pytestmark = pytest.mark.root

BASE = names.base_volume("minimal", "5eed5eed")


@pytest.mark.parametrize("fs", ["btrfs", "xfs"])
async def test_clones_are_isolated_and_base_unchanged(
    fs: PoolFs, make_pool: MakePool, ext4_image: Path, tmp_path: Path
) -> None:
    mount = await make_pool(fs, 512)
    config = StorageConfig(driver="reflink", pool_dir=mount / "pool", reserve_gb=0)
    chosen = await select_storage(config, tmp_path)
    assert isinstance(chosen.storage, ReflinkStorage), chosen.reason
    storage = chosen.storage

    base = await storage.import_base(ext4_image, BASE)
    base_sum = sha256(base.path)
    assert base_sum == sha256(ext4_image)
    used_before = _used(mount)
    one, two = names.sandbox_volume(names.new_id()), names.sandbox_volume(names.new_id())
    clone1 = await storage.clone(BASE, one, size=64 * MIB)
    clone2 = await storage.clone(BASE, two)
    assert _used(mount) - used_before < 4 * MIB  # metadata only: the 8 MiB of data is shared
    assert clone1.size == 64 * MIB and clone2.size == base.size

    usage = {v.name: v for v in (await storage.usage()).volumes}
    assert (usage[one].shared or 0) >= 8 * MIB

    await debugfs_write(
        clone1.path, {"one.txt": b"written in one\n", "who": b"1\n"}, tmp_path / "w1"
    )
    await debugfs_write(
        clone2.path, {"two.txt": b"written in two\n", "who": b"2\n"}, tmp_path / "w2"
    )

    assert await debugfs_cat(clone1.path, "/one.txt") == b"written in one\n"
    assert await debugfs_cat(clone1.path, "/two.txt") is None
    assert await debugfs_cat(clone2.path, "/two.txt") == b"written in two\n"
    assert await debugfs_cat(clone2.path, "/one.txt") is None
    assert await debugfs_cat(clone1.path, "/who") == b"1\n"
    assert await debugfs_cat(clone2.path, "/who") == b"2\n"
    assert await debugfs_cat(clone1.path, "/etc/hostname") == b"atelier-test\n"
    for volume in (clone1, clone2):
        assert await fsck_clean(volume.path)

    assert sha256(base.path) == base_sum
    assert await debugfs_cat(base.path, "/one.txt") is None
    assert await debugfs_cat(base.path, "/who") is None

    with pytest.raises(VolumeHasClones) as info:
        await storage.delete(BASE)
    assert one in info.value.message and two in info.value.message

    prebuild = await storage.snapshot(one, names.prebuild_volume(names.new_id()))
    assert prebuild.read_only and prebuild.path.stat().st_mode & 0o777 == 0o444
    assert await debugfs_cat(prebuild.path, "/one.txt") == b"written in one\n"

    for name in (prebuild.name, one, two, BASE):
        await storage.delete(name)
    assert await storage.list() == ()
    assert not [p for p in (mount / "pool").iterdir()]


@pytest.mark.parametrize("fs", ["btrfs", "xfs"])
async def test_import_from_the_pool_filesystem_is_a_reflink(
    fs: PoolFs, make_pool: MakePool, tmp_path: Path
) -> None:
    mount = await make_pool(fs, 512)
    staged = mount / "staging.img"
    _write_random(staged, 64 * MIB)
    storage = ReflinkStorage(mount / "pool", StorageConfig(reserve_gb=0))
    used = _used(mount)
    base = await storage.import_base(staged, BASE)
    assert _used(mount) - used < 4 * MIB
    assert sha256(base.path) == sha256(staged)


def _used(mount: Path) -> int:
    os.sync()
    st = os.statvfs(mount)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for _ in range(size // MIB):
            f.write(os.urandom(MIB))
