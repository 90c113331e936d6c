"""Driver selection: the auto order, explicit drivers, loud copy fallback, unmounted pools."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from atelier.runtime.host.detect import Verdict
from atelier.runtime.storage import PoolUnavailable, select_storage
from atelier.runtime.storage.config import StorageConfig
from atelier.runtime.storage.copy import CopyStorage
from atelier.runtime.storage.lvm_thin import LvmThinStorage
from atelier.runtime.storage.reflink import ReflinkStorage
from tests.fakes.storage import FakeProbes

YES = Verdict(True, "works (fake)")


async def test_auto_prefers_lvm_thin(tmp_path: Path) -> None:
    probes = FakeProbes(dm=YES, thin=Verdict(True, "thin pool atelier/atl-thinpool exists"))
    probes.reflinks = YES
    chosen = await select_storage(StorageConfig(), tmp_path, probes=probes)
    assert isinstance(chosen.storage, LvmThinStorage)
    assert chosen.driver == "lvm-thin" and not chosen.fallback
    assert chosen.reason == "auto: thin pool atelier/atl-thinpool exists"
    assert "thin_pool atelier/atl-thinpool" in probes.asked


async def test_auto_skips_thin_probe_without_device_mapper(tmp_path: Path) -> None:
    probes = FakeProbes(reflinks=Verdict(True, "pool is on btrfs and FICLONE works"))
    chosen = await select_storage(StorageConfig(), tmp_path, probes=probes)
    assert isinstance(chosen.storage, ReflinkStorage)
    assert chosen.storage.pool_dir == tmp_path / "pool"
    assert chosen.reason.startswith("auto: pool is on btrfs and FICLONE works")
    assert "no device-mapper (fake)" in chosen.reason
    assert not any(q.startswith("thin_pool") for q in probes.asked)


async def test_auto_falls_back_to_copy_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="atelier.runtime.storage.select"):
        chosen = await select_storage(StorageConfig(), tmp_path, probes=FakeProbes())
    assert isinstance(chosen.storage, CopyStorage)
    assert chosen.fallback
    assert "FELL BACK TO THE COPY DRIVER" in chosen.reason
    assert "ext4 cannot reflink (fake)" in chosen.reason
    assert "slow" in chosen.reason and "atelier storage setup" in chosen.reason
    assert any("FELL BACK" in r.getMessage() for r in caplog.records)


async def test_explicit_reflink_without_support_is_an_error(tmp_path: Path) -> None:
    config = StorageConfig(driver="reflink", pool_dir=tmp_path / "p")
    with pytest.raises(PoolUnavailable) as info:
        await select_storage(config, tmp_path, probes=FakeProbes())
    assert "ext4 cannot reflink" in info.value.message
    assert info.value.field == "storage.driver"
    assert info.value.hint and "atelier storage setup" in info.value.hint


async def test_explicit_lvm_without_device_mapper_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PoolUnavailable) as info:
        await select_storage(StorageConfig(driver="lvm-thin"), tmp_path, probes=FakeProbes())
    assert "no device-mapper" in info.value.message


async def test_explicit_copy_needs_no_probe(tmp_path: Path) -> None:
    probes = FakeProbes()
    chosen = await select_storage(StorageConfig(driver="copy"), tmp_path, probes=probes)
    assert isinstance(chosen.storage, CopyStorage) and not chosen.fallback
    assert probes.asked == []


async def test_configured_image_must_be_mounted(tmp_path: Path) -> None:
    image = tmp_path / "pool.img"
    config = StorageConfig(pool_image=image, pool_dir=tmp_path / "pool")
    probes = FakeProbes(reflinks=YES)
    with pytest.raises(PoolUnavailable) as info:
        await select_storage(config, tmp_path, probes=probes)
    assert "not mounted" in info.value.message and info.value.field == "storage.pool_image"
    probes.mounts[str(tmp_path / "pool")] = str(image)
    chosen = await select_storage(config, tmp_path, probes=probes)
    assert chosen.driver == "reflink"


async def test_default_image_left_by_setup_must_be_mounted(tmp_path: Path) -> None:
    (tmp_path / "pool.img").write_bytes(b"")
    with pytest.raises(PoolUnavailable):
        await select_storage(StorageConfig(), tmp_path, probes=FakeProbes(reflinks=YES))
