"""The copy driver on filesystems without reflink (the host's ext4, a tmpfs): correct clones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atelier.runtime.host import names, proc
from atelier.runtime.storage import VolumeHasClones, select_storage
from atelier.runtime.storage.config import StorageConfig
from atelier.runtime.storage.copy import CopyStorage
from atelier.runtime.storage.probe import fs_type, mount_source
from tests.fakes.storage import FakeProbes
from tests.integration.storage.conftest import debugfs_cat, debugfs_write, require, sha256

BASE = names.base_volume("minimal", "c0ffee00")


@pytest.fixture
async def tmpfs(tmp_path: Path) -> AsyncIterator[Path]:
    """A 256 MiB tmpfs mounted in tmp_path, unmounted afterwards (also on failure)."""
    require("mount", "umount")
    where = tmp_path / "tmpfs"
    where.mkdir()
    await proc.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", where], timeout=30)
    try:
        yield where
    finally:
        if mount_source(where) is not None:
            await proc.run(["umount", where], timeout=30)


async def exercise(storage: CopyStorage, image: Path, scratch: Path) -> None:
    base = await storage.import_base(image, BASE)
    base_sum = sha256(base.path)
    one, two = names.sandbox_volume(names.new_id()), names.sandbox_volume(names.new_id())
    clone1 = await storage.clone(BASE, one)
    clone2 = await storage.clone(BASE, two)
    await debugfs_write(clone1.path, {"mark": b"one\n"}, scratch / "1")
    await debugfs_write(clone2.path, {"mark": b"two\n"}, scratch / "2")
    assert await debugfs_cat(clone1.path, "/mark") == b"one\n"
    assert await debugfs_cat(clone2.path, "/mark") == b"two\n"
    assert await debugfs_cat(base.path, "/mark") is None
    assert sha256(base.path) == base_sum
    with pytest.raises(VolumeHasClones):
        await storage.delete(BASE)
    for name in (one, two, BASE):
        await storage.delete(name)
    assert await storage.list() == ()


async def test_copy_driver_on_the_host_filesystem(ext4_image: Path, tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    chosen = await select_storage(StorageConfig(pool_dir=pool), tmp_path, probes=FakeProbes())
    assert isinstance(chosen.storage, CopyStorage) and chosen.fallback
    await exercise(chosen.storage, ext4_image, tmp_path / "scratch")


@pytest.mark.root
async def test_copy_driver_on_tmpfs(tmpfs: Path, ext4_image: Path, tmp_path: Path) -> None:
    assert fs_type(tmpfs) == "tmpfs"
    storage = CopyStorage(tmpfs / "pool", StorageConfig(driver="copy", reserve_gb=0))
    await exercise(storage, ext4_image, tmp_path / "scratch")
    await storage.import_base(ext4_image, BASE)
    usage = await storage.usage()
    assert usage.pool.fs == "tmpfs" and usage.volumes[0].allocated > 0
