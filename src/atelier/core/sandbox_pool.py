"""A full storage pool: guests their VMM paused on ENOSPC, shown and resumed.

A sandbox volume's VMM pauses the guest when a write hits a full pool (QEMU
`werror=enospc`) rather than failing it inside the guest filesystem. While the pool is
low or full, such sandboxes are marked `paused` with the reason (`error_step` =
`POOL_FULL`); once the pool is back to ok they are resumed. Pool level changes are
published for admins only.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from atelier.core.lifecycle import Status
from atelier.core.runtime import Runtime
from atelier.core.sandbox_handles import handle_from_json
from atelier.core.sandbox_records import SandboxRecords
from atelier.db.repos import sandboxes as repo
from atelier.runtime.storage import PoolEvent, PoolWatcher
from atelier.runtime.vmm.base import VmState

log = logging.getLogger(__name__)

POOL_FULL = "storage"  # error_step of a sandbox its VMM paused because the pool was full


@dataclass(eq=False)
class PoolPauses:
    """Follows the pool's level and the sandboxes it paused."""

    records: SandboxRecords
    runtime: Runtime

    async def watch(self, interval: float) -> None:
        """Follow the pool's level; while it is low or full, find guests paused on ENOSPC."""
        watcher = PoolWatcher(self.runtime.storage, self._pool_event, interval=interval)
        while True:
            await watcher.check()
            if watcher.level != "ok":
                await self._sweep_paused_by_pool()
            await asyncio.sleep(interval)

    async def _pool_event(self, event: PoolEvent) -> None:
        # Empty audience: the pool is the host's business, so only admins see this.
        self.records.bus.publish(
            "storage.pool",
            {"level": event.level, "previous": event.previous, "message": event.message,
             "free": event.usage.free, "total": event.usage.total},
            audience=set(),
        )  # fmt: skip
        if event.level == "ok":
            await self._resume_paused_by_pool()

    async def _sweep_paused_by_pool(self) -> None:
        for row in await self.records.running_rows():
            if not row.vm:
                continue
            if await self.runtime.vmm.status(handle_from_json(row.vm)) == VmState.PAUSED:
                log.warning("sandbox %s was paused by its VMM: the storage pool is full", row.id)
                async with self.records.db.session() as session:
                    current = await repo.get(session, row.id)
                    if current is None or current.status != Status.RUNNING:
                        continue
                    current.status = Status.PAUSED.value
                    current.error_step = POOL_FULL
                    current.error_message = (
                        "paused: the storage pool is full; it resumes once space is freed"
                    )
                self.records.publish(current, "sandbox.status")

    async def _resume_paused_by_pool(self) -> None:
        async with self.records.db.session() as session:
            rows = await repo.with_status(session, [Status.PAUSED.value])
        for row in rows:
            if row.error_step != POOL_FULL or not row.vm:
                continue
            await self.runtime.vmm.resume(handle_from_json(row.vm))
            async with self.records.db.session() as session:
                current = await repo.get(session, row.id)
                if current is not None and current.status == Status.PAUSED:
                    current.status = Status.RUNNING.value
                    current.error_step = current.error_message = None
            if current is not None:
                self.records.publish(current, "sandbox.status")
