"""Network allocations and their unique claims.

Each allocation's claims (`ip4:…`, `mac:…`, `tap:…`, `port:…`) are rows whose primary key
is the claim, so the database itself refuses a second sandbox taking the same address, even
across processes. Allocations are stored as the network driver's JSON; the core adapter
(`atelier.core.network_store`) converts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from atelier.db.models import NetworkAllocation, NetworkClaim
from atelier.db.session import Database


class ClaimTaken(Exception):
    """Another sandbox holds one of the claims."""

    def __init__(self, claim: str | None, holder: str | None) -> None:
        super().__init__(f"{claim} held by {holder}")
        self.claim = claim
        self.holder = holder


async def list_all(db: Database) -> list[dict[str, Any]]:
    """Every stored allocation's data."""
    async with db.session() as session:
        return [row.data for row in await session.scalars(select(NetworkAllocation))]


async def get(db: Database, sandbox_id: str) -> dict[str, Any] | None:
    """One sandbox's allocation data."""
    async with db.session() as session:
        row = await session.get(NetworkAllocation, sandbox_id)
        return row.data if row else None


async def reserve(
    db: Database, sandbox_id: str, data: dict[str, Any], claims: Sequence[str]
) -> None:
    """Replace the sandbox's allocation and claims atomically; ClaimTaken on a conflict."""
    try:
        async with db.session() as session:
            await session.execute(delete(NetworkClaim).where(NetworkClaim.sandbox_id == sandbox_id))
            row = await session.get(NetworkAllocation, sandbox_id)
            if row is None:
                session.add(NetworkAllocation(sandbox_id=sandbox_id, data=data))
            else:
                row.data = data
            await session.flush()
            session.add_all(NetworkClaim(claim=c, sandbox_id=sandbox_id) for c in claims)
            await session.flush()
    except IntegrityError as exc:
        raise ClaimTaken(*await _holder(db, claims, sandbox_id)) from exc


async def delete_one(db: Database, sandbox_id: str) -> None:
    """Forget a sandbox's allocation and claims."""
    async with db.session() as session:
        await session.execute(delete(NetworkClaim).where(NetworkClaim.sandbox_id == sandbox_id))
        await session.execute(
            delete(NetworkAllocation).where(NetworkAllocation.sandbox_id == sandbox_id)
        )


async def _holder(db: Database, claims: Sequence[str], me: str) -> tuple[str | None, str | None]:
    async with db.session() as session:
        rows = await session.scalars(select(NetworkClaim).where(NetworkClaim.claim.in_(claims)))
        for row in rows:
            if row.sandbox_id != me:
                return row.claim, row.sandbox_id
    return (claims[0] if claims else None), None
