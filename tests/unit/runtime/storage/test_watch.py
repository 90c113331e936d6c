"""The pool watcher reports each level change once, to sync or async listeners."""

from __future__ import annotations

import asyncio

from atelier.runtime.storage import PoolEvent, PoolUnavailable, PoolWatcher
from tests.fakes.storage import GIB, FakeStorage


async def test_reports_each_change_once() -> None:
    storage = FakeStorage(total=10 * GIB, reserve=GIB, full_below=128 * 1024**2)
    seen: list[PoolEvent] = []
    watcher = PoolWatcher(storage, seen.append)
    assert await watcher.check() is None  # ok → ok
    storage.free = GIB // 2
    low = await watcher.check()
    assert low is not None and (low.previous, low.level) == ("ok", "low")
    assert "below its reserve" in low.message and "refused" in low.message
    assert await watcher.check() is None  # still low: no repeat
    storage.free = 0
    full = await watcher.check()
    assert full is not None and full.level == "full" and "paused" in full.message
    storage.free = 5 * GIB
    back = await watcher.check()
    assert back is not None and (back.previous, back.level) == ("full", "ok")
    assert [e.level for e in seen] == ["low", "full", "ok"]


async def test_async_listener_and_unreadable_pool() -> None:
    storage = FakeStorage(total=10 * GIB, free=0)
    seen: list[str] = []

    async def listener(event: PoolEvent) -> None:
        seen.append(event.level)

    watcher = PoolWatcher(storage, listener)
    storage.fail["pool_usage"] = PoolUnavailable("gone")
    assert await watcher.check() is None and watcher.level == "ok"
    assert (await watcher.check()) is not None
    assert seen == ["full"]


async def test_start_and_stop() -> None:
    storage = FakeStorage(total=10 * GIB, free=0)
    seen: list[PoolEvent] = []
    watcher = PoolWatcher(storage, seen.append, interval=0.01)
    watcher.start()
    for _ in range(200):
        if seen:
            break
        await asyncio.sleep(0.01)
    await watcher.stop()
    assert [e.level for e in seen] == ["full"]
