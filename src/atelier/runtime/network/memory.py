"""An in-memory AllocationRepository, for tests and for CLI commands without a manager.

It behaves like the database one: `reserve` is atomic and refuses claims another sandbox
holds. Every call yields to the event loop first, as a database round trip would, so
concurrent allocators really interleave and exercise the conflict-and-retry path.
"""

from __future__ import annotations

import asyncio

from atelier.runtime.network.base import Allocation
from atelier.runtime.network.errors import AllocationConflict


class MemoryAllocationRepository:
    """Allocations and their claims in two dictionaries."""

    def __init__(self, allocations: list[Allocation] | None = None) -> None:
        self._allocations: dict[str, Allocation] = {}
        self._claims: dict[str, str] = {}
        self.conflicts = 0  # how many reservations were refused, for tests
        for allocation in allocations or []:
            self._store(allocation)

    async def list_all(self) -> list[Allocation]:
        """Every stored allocation."""
        await asyncio.sleep(0)
        return list(self._allocations.values())

    async def get(self, sandbox_id: str) -> Allocation | None:
        """The sandbox's allocation, or None."""
        await asyncio.sleep(0)
        return self._allocations.get(sandbox_id)

    async def reserve(self, allocation: Allocation) -> None:
        """Store atomically; AllocationConflict when another sandbox holds a claim."""
        await asyncio.sleep(0)
        for claim in allocation.claims():
            holder = self._claims.get(claim)
            if holder is not None and holder != allocation.sandbox_id:
                self.conflicts += 1
                raise AllocationConflict(claim, holder)
        self._drop(allocation.sandbox_id)
        self._store(allocation)

    async def delete(self, sandbox_id: str) -> None:
        """Forget the sandbox's allocation and claims."""
        await asyncio.sleep(0)
        self._drop(sandbox_id)

    def _store(self, allocation: Allocation) -> None:
        self._allocations[allocation.sandbox_id] = allocation
        for claim in allocation.claims():
            self._claims[claim] = allocation.sandbox_id

    def _drop(self, sandbox_id: str) -> None:
        self._allocations.pop(sandbox_id, None)
        for claim in [c for c, holder in self._claims.items() if holder == sandbox_id]:
            del self._claims[claim]
