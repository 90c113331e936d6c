"""A tiny pool filling up: the reserve refuses new clones, the watcher reports the pool low
and then full, and a clone written until ENOSPC leaves the base and its sibling intact.

This is the host-level half of the pool-full story; the VM-level half (a guest filling the
pool ends paused with `werror=stop`) belongs to the qemu driver's tests.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from atelier.runtime.host import names
from atelier.runtime.storage import PoolEvent, PoolFull, PoolWatcher
from atelier.runtime.storage.config import MIB, PoolFs, StorageConfig
from atelier.runtime.storage.reflink import ReflinkStorage
from tests.integration.storage.conftest import MakePool, sha256

pytestmark = pytest.mark.root

BASE = names.base_volume("tiny", "0badf00d")
# mkfs.xfs refuses filesystems under 300 MiB. A 128 MiB btrfs has only ~47 MiB for data,
# and its statfs free space moves in chunk-sized steps, so it gets 256 MiB.
POOL_MIB = {"btrfs": 256, "xfs": 300}


@pytest.mark.parametrize("fs", ["btrfs", "xfs"])
async def test_guest_writes_fill_tiny_pool(fs: PoolFs, make_pool: MakePool, tmp_path: Path) -> None:
    mount = await make_pool(fs, POOL_MIB[fs])
    config = StorageConfig(driver="reflink", reserve_percent=25, reserve_gb=0, full_free_mb=16)
    storage = ReflinkStorage(mount / "pool", config)
    events: list[PoolEvent] = []
    watcher = PoolWatcher(storage, events.append)

    source = tmp_path / "data.img"
    _write(source, 0, 16 * MIB)
    await storage.import_base(source, BASE)
    filler = names.sandbox_volume(names.new_id())
    sibling = names.sandbox_volume(names.new_id())
    filling = await storage.clone(BASE, filler, size=1024 * MIB)
    other = await storage.clone(BASE, sibling)
    _write(other.path, 4 * MIB, 2 * MIB)  # the sibling has data of its own
    sums = {BASE: sha256(source), sibling: sha256(other.path)}
    assert sha256((await storage.get(BASE)).path) == sums[BASE]
    assert await watcher.check() is None  # still ok

    # Write into one clone, as a guest would, until the pool drops under its reserve ...
    offset = _fill(filling.path, 0, stop_below=(await storage.pool_usage()).reserve)
    low = await watcher.check()
    assert low is not None and low.level == "low", await storage.pool_usage()
    with pytest.raises(PoolFull) as info:
        await storage.clone(BASE, names.sandbox_volume(names.new_id()))
    assert str(mount / "pool") in info.value.message
    assert "storage.reserve_percent=25%" in info.value.message

    # ... and on until the filesystem has no space left at all.
    with pytest.raises(OSError) as nospace:
        _fill(filling.path, offset, stop_below=0)
    assert nospace.value.errno == errno.ENOSPC
    full = await watcher.check()
    assert full is not None and full.level == "full"
    assert "full" in full.message

    # The base and the other clone are untouched and readable.
    assert sha256((await storage.get(BASE)).path) == sums[BASE]
    assert sha256(other.path) == sums[sibling]

    await storage.delete(filler)
    recovered = await watcher.check()
    assert recovered is not None and recovered.level == "ok"
    assert [e.level for e in events] == ["low", "full", "ok"]
    again = await storage.clone(BASE, names.sandbox_volume(names.new_id()))
    assert sha256(again.path) == sums[BASE]
    assert sha256(other.path) == sums[sibling]


def _write(path: Path, offset: int, size: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for pos in range(offset, offset + size, MIB):
            os.pwrite(fd, os.urandom(MIB), pos)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fill(path: Path, offset: int, *, stop_below: int) -> int:
    """Write 1 MiB chunks (synced, so free space is accounted) from `offset` until free
    space drops under `stop_below`; ENOSPC propagates. Returns the next offset."""
    fd = os.open(path, os.O_WRONLY)
    try:
        while offset < os.fstat(fd).st_size:
            os.pwrite(fd, os.urandom(MIB), offset)
            os.fsync(fd)
            offset += MIB
            st = os.statvfs(path)
            if st.f_bavail * st.f_frsize < stop_below:
                return offset
    finally:
        os.close(fd)
    raise AssertionError("the clone is larger than the pool: it should have filled it")
