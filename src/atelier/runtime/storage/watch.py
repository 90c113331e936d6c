"""The pool watcher: samples free space and tells the manager when the pool's level changes.

Levels are `ok`, `low` (free space under the reserve: new volumes are refused) and `full`
(under `storage.full_free_mb`: guests that write will hit ENOSPC; QEMU pauses them with
`werror=stop`). The watcher only reports, once per change; pausing or resuming sandboxes is
the manager's decision. `check()` samples once, so tests need no timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from atelier.errors import AtelierError
from atelier.runtime.storage.base import PoolLevel, PoolUsage, Storage, format_bytes

log = logging.getLogger(__name__)

Listener = Callable[["PoolEvent"], Awaitable[None] | None]


@dataclass(frozen=True)
class PoolEvent:
    """The pool moved from `previous` to `level`; `message` says what that means."""

    level: PoolLevel
    previous: PoolLevel
    usage: PoolUsage
    message: str


def describe(level: PoolLevel, usage: PoolUsage) -> str:
    """A sentence for the dashboard and the log about a pool at `level`."""
    free = f"{format_bytes(usage.free)} free of {format_bytes(usage.total)}"
    if level == "full":
        return (
            f"storage pool {usage.pool} is full ({free}): sandboxes that write are paused"
            " by their VMM until space is freed; delete sandboxes or prebuilds, or grow"
            " the pool, then resume them"
        )
    if level == "low":
        return (
            f"storage pool {usage.pool} is below its reserve of {format_bytes(usage.reserve)}"
            f" ({free}): new sandboxes and prebuilds are refused until space is freed"
        )
    return f"storage pool {usage.pool} has room again ({free})"


class PoolWatcher:
    """Samples `storage.pool_usage()` and calls `listener` whenever the level changes."""

    def __init__(self, storage: Storage, listener: Listener, *, interval: float = 5.0) -> None:
        self.storage = storage
        self.listener = listener
        self.interval = interval
        self.level: PoolLevel = "ok"
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> PoolEvent | None:
        """Sample once; report and return an event when the level changed, else None.

        A pool that cannot be read is logged and skipped (the level stays as it was).
        """
        try:
            usage = await self.storage.pool_usage()
        except AtelierError as exc:
            log.warning("storage watcher: cannot read the pool: %s", exc.message)
            return None
        level = usage.level
        if level == self.level:
            return None
        event = PoolEvent(level, self.level, usage, describe(level, usage))
        self.level = level
        log.log(logging.INFO if level == "ok" else logging.WARNING, "%s", event.message)
        result = self.listener(event)
        if inspect.isawaitable(result):
            await result
        return event

    async def run(self) -> None:
        """Check every `interval` seconds until cancelled."""
        while True:
            await self.check()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Run in the background on the current event loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="pool-watcher")

    async def stop(self) -> None:
        """Stop the background loop and wait for it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
