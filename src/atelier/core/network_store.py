"""The network driver's AllocationRepository, backed by the database.

The database is the only store of network allocations; this adapter converts between the
driver's `Allocation` and the stored JSON, and turns the database's uniqueness refusal into
the driver's AllocationConflict so the allocator retries with another address.
"""

from __future__ import annotations

from atelier.db.repos import allocations as repo
from atelier.db.session import Database
from atelier.runtime.network.base import Allocation
from atelier.runtime.network.errors import AllocationConflict


class DbAllocationRepository:
    """AllocationRepository on `network_allocations` + `network_claims`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_all(self) -> list[Allocation]:
        """Every stored allocation."""
        return [Allocation.from_dict(data) for data in await repo.list_all(self._db)]

    async def get(self, sandbox_id: str) -> Allocation | None:
        """The sandbox's allocation, or None."""
        data = await repo.get(self._db, sandbox_id)
        return Allocation.from_dict(data) if data else None

    async def reserve(self, allocation: Allocation) -> None:
        """Store atomically; AllocationConflict when another sandbox holds a claim."""
        try:
            await repo.reserve(
                self._db, allocation.sandbox_id, allocation.to_dict(), allocation.claims()
            )
        except repo.ClaimTaken as exc:
            raise AllocationConflict(exc.claim or "?", exc.holder) from exc

    async def delete(self, sandbox_id: str) -> None:
        """Forget the sandbox's allocation and claims."""
        await repo.delete_one(self._db, sandbox_id)
