"""The file-pool rules through the copy driver (no root): naming, metadata, refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from atelier.errors import ValidationError
from atelier.runtime.host import names
from atelier.runtime.storage import (
    InvalidVolumeName,
    PoolFull,
    ShrinkRefused,
    Storage,
    VolumeExists,
    VolumeHasClones,
    VolumeNotFound,
    VolumeReadOnly,
)
from atelier.runtime.storage.config import MIB, StorageConfig
from atelier.runtime.storage.copy import CopyStorage
from atelier.runtime.storage.reflink import ReflinkStorage

BASE = names.base_volume("minimal", "0123abcd")
SBX1, SBX2 = names.sandbox_volume("aaaaaaaa"), names.sandbox_volume("bbbbbbbb")
PRE = names.prebuild_volume("cccccccc")


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "src.img"
    with open(path, "wb") as f:
        f.write(os.urandom(MIB))
        f.truncate(16 * MIB)
    return path


@pytest.fixture
def pool(tmp_path: Path) -> CopyStorage:
    return CopyStorage(
        tmp_path / "pool", StorageConfig(driver="copy", reserve_gb=0, reserve_percent=0)
    )


def test_drivers_implement_the_protocol(tmp_path: Path) -> None:
    for driver in (
        CopyStorage(tmp_path, StorageConfig()),
        ReflinkStorage(tmp_path, StorageConfig()),
    ):
        storage: Storage = driver
        assert isinstance(storage, Storage)


async def test_import_clone_snapshot(pool: CopyStorage, image: Path) -> None:
    base = await pool.import_base(image, BASE)
    assert base.read_only and base.kind == "base" and base.size == 16 * MIB
    assert base.path == pool.pool_dir / f"{BASE}.img"
    assert not os.access(base.path, os.W_OK) or os.geteuid() == 0
    assert base.path.stat().st_mode & 0o777 == 0o444
    clone = await pool.clone(BASE, SBX1, size=64 * MIB)
    assert (clone.origin, clone.size, clone.read_only) == (BASE, 64 * MIB, False)
    assert read(clone.path)[: 16 * MIB] == read(image)
    assert clone.path.stat().st_blocks * 512 < 4 * MIB  # holes stay holes
    pre = await pool.snapshot(SBX1, PRE)
    assert pre.read_only and pre.origin == SBX1
    assert json.loads((pool.pool_dir / f"{PRE}.json").read_text())["origin"] == SBX1


async def test_list_rebuilds_from_the_directory(pool: CopyStorage, image: Path) -> None:
    await pool.import_base(image, BASE)
    await pool.clone(BASE, SBX1)
    (pool.pool_dir / "not-ours.img").write_bytes(b"x")
    (pool.pool_dir / f".{SBX2}.img.partial").write_bytes(b"x")  # an interrupted clone
    fresh = CopyStorage(pool.pool_dir, pool.config)
    listed = await fresh.list()
    assert [v.name for v in listed] == [BASE, SBX1]
    assert listed == await pool.list()
    (pool.pool_dir / f"{SBX1}.json").unlink()  # metadata lost: still listed, origin unknown
    assert (await fresh.get(SBX1)).origin is None


async def test_refusals(pool: CopyStorage, image: Path) -> None:
    await pool.import_base(image, BASE)
    await pool.clone(BASE, SBX1)
    with pytest.raises(VolumeExists):
        await pool.clone(BASE, SBX1)
    with pytest.raises(VolumeExists):
        await pool.import_base(image, BASE)
    with pytest.raises(InvalidVolumeName):
        await pool.clone(BASE, PRE)
    with pytest.raises(VolumeNotFound):
        await pool.clone(names.base_volume("nope", "ffffffff"), SBX2)
    with pytest.raises(ShrinkRefused):
        await pool.clone(BASE, SBX2, size=MIB)
    with pytest.raises(ShrinkRefused):
        await pool.resize(SBX1, MIB)
    with pytest.raises(VolumeReadOnly):
        await pool.resize(BASE, 64 * MIB)
    with pytest.raises(ValidationError) as info:
        await pool.import_base(image.parent / "missing.img", names.base_volume("x", "12345678"))
    assert info.value.field == "source"
    assert not list(pool.pool_dir.glob(".*"))  # nothing half-made left behind


async def test_resize_grows_sparse(pool: CopyStorage, image: Path) -> None:
    await pool.import_base(image, BASE)
    await pool.clone(BASE, SBX1)
    grown = await pool.resize(SBX1, 1024 * MIB)
    assert grown.size == 1024 * MIB
    assert grown.path.stat().st_blocks * 512 < 4 * MIB
    assert (await pool.resize(SBX1, 1024 * MIB)).size == 1024 * MIB


async def test_delete_refuses_base_with_clones(pool: CopyStorage, image: Path) -> None:
    await pool.import_base(image, BASE)
    await pool.clone(BASE, SBX1)
    await pool.clone(BASE, SBX2)
    with pytest.raises(VolumeHasClones) as info:
        await pool.delete(BASE)
    assert SBX1 in info.value.message and SBX2 in info.value.message
    await pool.delete(SBX1)
    await pool.delete(BASE, force=True)
    assert [v.name for v in await pool.list()] == [SBX2]
    assert sorted(p.name for p in pool.pool_dir.iterdir()) == [f"{SBX2}.img", f"{SBX2}.json"]
    with pytest.raises(VolumeNotFound):
        await pool.delete(BASE)


async def test_reserve_refuses_new_volumes(tmp_path: Path, image: Path) -> None:
    pool = CopyStorage(tmp_path / "pool", StorageConfig(reserve_percent=90, reserve_gb=0))
    usage = await pool.pool_usage()
    if usage.free >= usage.reserve:
        pytest.skip("the test filesystem is more than 90% free; cannot be below the reserve")
    with pytest.raises(PoolFull) as info:
        await pool.import_base(image, BASE)
    assert "storage.reserve_percent=90%" in info.value.message
    assert not (tmp_path / "pool" / f"{BASE}.img").exists()


async def test_usage_counts_volumes(pool: CopyStorage, image: Path) -> None:
    await pool.import_base(image, BASE)
    await pool.clone(BASE, SBX1)
    usage = await pool.usage()
    assert usage.pool.volumes == 2 and usage.pool.driver == "copy"
    by_name = {v.name: v for v in usage.volumes}
    assert by_name[SBX1].allocated >= MIB
    assert by_name[SBX1].shared in (0, None)  # full copies share nothing


def read(path: Path) -> bytes:
    return path.read_bytes()
