"""The lvm-thin driver: every command it builds (lvm_commands), and its flow against a fake
LVM."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from atelier.runtime.host import names
from atelier.runtime.storage import (
    InvalidVolumeName,
    PoolFull,
    PoolUnavailable,
    ShrinkRefused,
    Storage,
    StorageError,
    VolumeExists,
    VolumeHasClones,
    VolumeInUse,
    VolumeNotFound,
    VolumeReadOnly,
)
from atelier.runtime.storage.config import MIB, StorageConfig
from atelier.runtime.storage.lvm_commands import (
    create_thin_argv,
    extend_argv,
    list_argv,
    parse_lvs,
    permission_argv,
    pool_argv,
    remove_argv,
    snapshot_argv,
    tag_args,
    thin_pool_usage,
)
from atelier.runtime.storage.lvm_thin import LvmThinStorage
from tests.fakes.lvm import FakeLvm

BASE = names.base_volume("minimal", "0123456789abcdef")
SBX1 = names.sandbox_volume("aaaaaaaa")
SBX2 = names.sandbox_volume("bbbbbbbb")
PRE = names.prebuild_volume("cccccccc")
WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- command building ---------------------------------------------------------------------


def test_tag_args_mark_origin_and_time() -> None:
    assert tag_args(BASE, WHEN) == [
        "--addtag", "atelier",
        "--addtag", f"atl.created.{int(WHEN.timestamp())}",
        "--addtag", f"atl.origin.{BASE}",
    ]  # fmt: skip
    assert tag_args(None, WHEN) == ["--addtag", "atelier", "--addtag", "atl.created.1735787045"]


def test_create_thin_argv() -> None:
    assert create_thin_argv("vg0", "pool0", BASE, 2 * 1024**3, ["--addtag", "atelier"]) == [
        "lvcreate", "--yes", "--type", "thin", "--thinpool", "pool0",
        "--virtualsize", "2147483648b", "--name", BASE, "--addtag", "atelier", "vg0",
    ]  # fmt: skip


def test_snapshot_argv_is_kn_and_active() -> None:
    assert snapshot_argv("vg0", BASE, SBX1, ["--addtag", "atelier"]) == [
        "lvcreate", "--yes", "--snapshot", "--setactivationskip", "n", "--activate", "y",
        "--name", SBX1, "--addtag", "atelier", f"vg0/{BASE}",
    ]  # fmt: skip


def test_permission_extend_remove_argv() -> None:
    assert permission_argv("vg0", PRE, read_only=True) == [
        "lvchange",
        "--permission",
        "r",
        f"vg0/{PRE}",
    ]
    assert permission_argv("vg0", SBX1, read_only=False) == [
        "lvchange", "--permission", "rw", f"vg0/{SBX1}",
    ]  # fmt: skip
    assert extend_argv("vg0", SBX1, 10 * 1024**3) == [
        "lvextend", "--size", "10737418240b", f"vg0/{SBX1}",
    ]  # fmt: skip
    assert remove_argv("vg0", SBX1) == ["lvremove", "--yes", f"vg0/{SBX1}"]


def test_lvs_argv() -> None:
    assert list_argv("vg0") == [
        "lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
        "-o", "lv_name,lv_size,lv_attr,lv_tags,origin,pool_lv,data_percent,lv_path", "vg0",
    ]  # fmt: skip
    assert pool_argv("vg0", "pool0") == [
        "lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
        "-o", "lv_size,data_percent,metadata_percent,lv_attr", "vg0/pool0",
    ]  # fmt: skip


def test_parse_lvs_and_pool_usage() -> None:
    text = (
        '{"report": [{"lv": [{"lv_size": "1073741824", "data_percent": "25.00",'
        ' "metadata_percent": "3.10", "lv_attr": "twi-aotz--"}]}]}'
    )
    rows = parse_lvs(text)
    usage = thin_pool_usage(StorageConfig(reserve_gb=0, reserve_percent=10), "vg/p", rows[0], 3)
    assert (usage.total, usage.used, usage.free) == (1024**3, 256 * MIB, 768 * MIB)
    assert usage.reserve == int(1024**3 * 0.1)
    assert usage.volumes == 3 and usage.level == "ok"


def test_full_metadata_leaves_no_free_space() -> None:
    row = {"lv_size": "1073741824", "data_percent": "1.00", "metadata_percent": "97.00"}
    usage = thin_pool_usage(StorageConfig(), "vg/p", row, 0)
    assert usage.free == 0 and usage.level == "full"


def test_parse_lvs_rejects_garbage() -> None:
    with pytest.raises(StorageError):
        parse_lvs("  No volume groups found\n")


# --- the driver against a fake LVM ---------------------------------------------------------


@pytest.fixture
def lvm(tmp_path: Path) -> FakeLvm:
    return FakeLvm(dev_dir=tmp_path / "dev")


@pytest.fixture
def driver(lvm: FakeLvm) -> LvmThinStorage:
    config = StorageConfig(driver="lvm-thin", reserve_gb=0, reserve_percent=5)
    return LvmThinStorage(config, run=lvm, dev_dir=lvm.dev_dir)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "base.img"
    with open(path, "wb") as f:
        f.write(b"\x01" * MIB)
        f.seek(7 * MIB)
        f.write(b"\x02" * MIB)
    return path


def test_driver_is_a_storage(driver: LvmThinStorage) -> None:
    storage: Storage = driver
    assert isinstance(storage, Storage)
    assert storage.name == "lvm-thin"


async def test_import_writes_the_image_and_makes_it_read_only(
    driver: LvmThinStorage, lvm: FakeLvm, image: Path
) -> None:
    base = await driver.import_base(image, BASE)
    assert base.kind == "base" and base.read_only and base.origin is None
    assert base.path == lvm.dev_dir / "atelier" / BASE
    assert _read(base.path)[: 8 * MIB] == _read(image)
    changes = [c for c in lvm.commands if c[0] != "lvs"]
    assert [c[0] for c in changes] == ["lvcreate", "lvchange"]
    assert changes[1] == ["lvchange", "--permission", "r", f"atelier/{BASE}"]


async def test_clone_snapshot_resize_and_list(
    driver: LvmThinStorage, lvm: FakeLvm, image: Path
) -> None:
    await driver.import_base(image, BASE)
    clone = await driver.clone(BASE, SBX1, size=64 * MIB)
    assert clone.origin == BASE and not clone.read_only and clone.size == 64 * MIB
    assert ["lvchange", "--permission", "rw", f"atelier/{SBX1}"] in lvm.commands
    assert ["lvextend", "--size", f"{64 * MIB}b", f"atelier/{SBX1}"] in lvm.commands
    pre = await driver.snapshot(SBX1, PRE)
    assert pre.read_only and pre.origin == SBX1 and pre.kind == "pre"
    grown = await driver.resize(SBX1, 128 * MIB)
    assert grown.size == 128 * MIB
    assert [v.name for v in await driver.list()] == sorted([BASE, SBX1, PRE])
    rebuilt = LvmThinStorage(driver.config, run=lvm, dev_dir=lvm.dev_dir)
    assert await rebuilt.list() == await driver.list()


async def test_refusals(driver: LvmThinStorage, lvm: FakeLvm, image: Path) -> None:
    await driver.import_base(image, BASE)
    await driver.clone(BASE, SBX1)
    with pytest.raises(VolumeExists):
        await driver.clone(BASE, SBX1)
    with pytest.raises(ShrinkRefused):
        await driver.resize(SBX1, MIB)
    with pytest.raises(VolumeReadOnly):
        await driver.resize(BASE, 1024**3)
    with pytest.raises(InvalidVolumeName):
        await driver.clone(SBX1, SBX2)  # sandboxes are cloned from bases and prebuilds
    with pytest.raises(VolumeNotFound):
        await driver.clone(names.base_volume("other", "ffffffff"), SBX2)
    with pytest.raises(VolumeHasClones) as info:
        await driver.delete(BASE)
    assert SBX1 in info.value.message


async def test_delete_open_volume_is_in_use(
    driver: LvmThinStorage, lvm: FakeLvm, image: Path
) -> None:
    await driver.import_base(image, BASE)
    await driver.clone(BASE, SBX1)
    lvm.lvs[SBX1].is_open = True
    with pytest.raises(VolumeInUse):
        await driver.delete(SBX1)
    lvm.lvs[SBX1].is_open = False
    await driver.delete(SBX1)
    await driver.delete(BASE)
    assert await driver.list() == ()
    assert not any(p.is_file() for p in (lvm.dev_dir / "atelier").iterdir())


async def test_force_delete_keeps_clones(driver: LvmThinStorage, image: Path) -> None:
    await driver.import_base(image, BASE)
    await driver.clone(BASE, SBX1)
    await driver.delete(BASE, force=True)
    assert (await driver.get(SBX1)).origin == BASE  # the tag survives the origin


async def test_failed_extend_removes_the_new_clone(
    driver: LvmThinStorage, lvm: FakeLvm, image: Path
) -> None:
    await driver.import_base(image, BASE)
    lvm.fail["lvextend"] = "  Insufficient free space: 16 extents needed"
    with pytest.raises(PoolFull):
        await driver.clone(BASE, SBX1, size=64 * MIB)
    assert SBX1 not in lvm.lvs
    assert ["lvremove", "--yes", f"atelier/{SBX1}"] in lvm.commands


async def test_reserve_refuses_clone(lvm: FakeLvm, image: Path) -> None:
    config = StorageConfig(driver="lvm-thin", reserve_gb=0, reserve_percent=50)
    driver = LvmThinStorage(config, run=lvm, dev_dir=lvm.dev_dir)
    lvm.pool_size = 16 * MIB
    await driver.import_base(image, BASE)  # 2 MiB of data: 14 of 16 MiB free
    _fill(lvm.dev_dir / "atelier" / BASE, 10 * MIB)  # the base now maps 10 MiB
    with pytest.raises(PoolFull) as info:
        await driver.clone(BASE, SBX1)
    message = info.value.message
    assert "atelier/atl-thinpool" in message
    assert "storage.reserve_percent" in message and "storage.reserve_gb" in message
    assert SBX1 not in lvm.lvs


async def test_failed_import_removes_the_lv(
    driver: LvmThinStorage, lvm: FakeLvm, image: Path
) -> None:
    lvm.fail["lvchange"] = "  Device or resource busy"
    with pytest.raises(StorageError):
        await driver.import_base(image, BASE)
    assert lvm.lvs == {}


async def test_missing_volume_group_is_unavailable(tmp_path: Path) -> None:
    lvm = FakeLvm(dev_dir=tmp_path, vg="other")
    driver = LvmThinStorage(StorageConfig(driver="lvm-thin"), run=lvm, dev_dir=tmp_path)
    with pytest.raises(PoolUnavailable) as info:
        await driver.pool_usage()
    assert info.value.field == "storage.thin_pool"


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _fill(path: Path, size: int) -> None:
    with open(path, "r+b") as dev:
        dev.write(b"\x03" * size)
