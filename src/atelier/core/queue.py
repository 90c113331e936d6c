"""The spawn queue: at most N spawns at once, the rest wait in arrival order.

A sandbox waits in `queued` until a slot frees. Order is the database's `queued_seq`, so a
restarted manager resumes the queue in the same order.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class SpawnQueue:
    """FIFO admission of spawn jobs under a concurrency limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._waiting: dict[str, int] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._seq = itertools.count(1)
        self.running = 0

    def next_seq(self) -> int:
        """A sequence number for a new arrival (persisted as `queued_seq`)."""
        return next(self._seq)

    def resume_after(self, seq: int) -> None:
        """Continue numbering after the highest persisted sequence number."""
        self._seq = itertools.count(seq + 1)

    @property
    def waiting(self) -> list[str]:
        """Ids waiting for a slot, in order."""
        return sorted(self._waiting, key=self._waiting.__getitem__)

    def position(self, sandbox_id: str) -> int | None:
        """1-based place in the queue, or None when not waiting."""
        order = self.waiting
        return order.index(sandbox_id) + 1 if sandbox_id in order else None

    def submit(self, sandbox_id: str, seq: int, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` once a slot is free; jobs are admitted in `seq` order."""
        self._waiting[sandbox_id] = seq

        async def run() -> None:
            try:
                # asyncio.Semaphore wakes waiters in FIFO order; submission order is seq order.
                async with self._slots:
                    self._waiting.pop(sandbox_id, None)
                    self.running += 1
                    try:
                        await job()
                    finally:
                        self.running -= 1
            finally:
                self._waiting.pop(sandbox_id, None)
                self._tasks.pop(sandbox_id, None)

        self._tasks[sandbox_id] = asyncio.create_task(run(), name=f"spawn-{sandbox_id}")

    def cancel(self, sandbox_id: str) -> bool:
        """Cancel a job that has not started (or is running); True if there was one."""
        task = self._tasks.get(sandbox_id)
        if task is None:
            return False
        task.cancel()
        return True

    async def drain(self) -> None:
        """Cancel every job and wait for them (manager stop)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
