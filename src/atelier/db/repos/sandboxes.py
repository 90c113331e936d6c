"""Sandboxes and their members."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.db.models import Sandbox, SandboxMember


async def get(session: AsyncSession, sandbox_id: str) -> Sandbox | None:
    """One sandbox by id (members loaded)."""
    return await session.get(Sandbox, sandbox_id)


async def visible(
    session: AsyncSession,
    user_id: str,
    *,
    is_admin: bool,
    statuses: Iterable[str] | None = None,
    workspace_id: str | None = None,
    include_destroyed: bool = False,
) -> list[Sandbox]:
    """Sandboxes a user may see (owner or member; admins see all), newest first."""
    query = select(Sandbox).order_by(Sandbox.created_at.desc())
    if not is_admin:
        member_of = select(SandboxMember.sandbox_id).where(SandboxMember.user_id == user_id)
        query = query.where(or_(Sandbox.owner_id == user_id, Sandbox.id.in_(member_of)))
    if statuses is not None:
        query = query.where(Sandbox.status.in_(list(statuses)))
    elif not include_destroyed:
        query = query.where(Sandbox.status != "destroyed")
    if workspace_id is not None:
        query = query.where(Sandbox.workspace_id == workspace_id)
    return list(await session.scalars(query))


async def with_status(session: AsyncSession, statuses: Iterable[str]) -> list[Sandbox]:
    """Every sandbox in one of `statuses`, oldest first."""
    query = select(Sandbox).where(Sandbox.status.in_(list(statuses))).order_by(Sandbox.created_at)
    return list(await session.scalars(query))


async def count(session: AsyncSession, statuses: Iterable[str], owner_id: str | None = None) -> int:
    """How many sandboxes are in `statuses` (optionally of one owner)."""
    query = select(func.count()).select_from(Sandbox).where(Sandbox.status.in_(list(statuses)))
    if owner_id is not None:
        query = query.where(Sandbox.owner_id == owner_id)
    return int(await session.scalar(query) or 0)


async def max_queued_seq(session: AsyncSession) -> int:
    """The highest queue sequence number ever given."""
    return int(await session.scalar(select(func.max(Sandbox.queued_seq))) or 0)


async def ids(session: AsyncSession, include_destroyed: bool = False) -> set[str]:
    """Ids of all sandboxes (for reconcile)."""
    query = select(Sandbox.id)
    if not include_destroyed:
        query = query.where(Sandbox.status != "destroyed")
    return set(await session.scalars(query))


async def named(session: AsyncSession, name: str) -> list[Sandbox]:
    """Non-destroyed sandboxes with this name."""
    query = select(Sandbox).where(Sandbox.name == name, Sandbox.status != "destroyed")
    return list(await session.scalars(query))
