"""AI tasks and their OpenCode sessions."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.db.models import Task


async def get(session: AsyncSession, task_id: str) -> Task | None:
    """One task by id (sessions loaded)."""
    return await session.get(Task, task_id)


async def visible(
    session: AsyncSession,
    user_id: str,
    *,
    is_admin: bool,
    workspace_id: str | None = None,
    statuses: Iterable[str] | None = None,
) -> list[Task]:
    """Tasks a user may see (their own; admins see all), newest first."""
    query = select(Task).order_by(Task.created_at.desc())
    if not is_admin:
        query = query.where(Task.owner_id == user_id)
    if workspace_id is not None:
        query = query.where(Task.workspace_id == workspace_id)
    if statuses is not None:
        query = query.where(Task.status.in_(list(statuses)))
    return list(await session.scalars(query))


async def with_status(session: AsyncSession, statuses: Iterable[str]) -> list[Task]:
    """Every task in one of `statuses`, in queue order (then creation order)."""
    query = (
        select(Task)
        .where(Task.status.in_(list(statuses)))
        .order_by(Task.queued_seq, Task.created_at)
    )
    return list(await session.scalars(query))


async def of_sandbox(session: AsyncSession, sandbox_id: str, statuses: Iterable[str]) -> list[Task]:
    """The tasks running in a sandbox."""
    query = select(Task).where(Task.sandbox_id == sandbox_id, Task.status.in_(list(statuses)))
    return list(await session.scalars(query.order_by(Task.created_at)))


async def max_queued_seq(session: AsyncSession) -> int:
    """The highest queue number ever given."""
    return int(await session.scalar(select(func.max(Task.queued_seq))) or 0)
