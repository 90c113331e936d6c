"""Prebuilds, sandbox dev commands and paused sandboxes' saved memory."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.db.models import Prebuild, SandboxDevCommand, SandboxSuspend


async def get(session: AsyncSession, prebuild_id: str) -> Prebuild | None:
    """One prebuild by id."""
    return await session.get(Prebuild, prebuild_id)


async def of_workspace(
    session: AsyncSession, workspace_id: str, *, statuses: Iterable[str] | None = None
) -> list[Prebuild]:
    """The workspace's prebuilds, newest first."""
    query = (
        select(Prebuild)
        .where(Prebuild.workspace_id == workspace_id)
        .order_by(Prebuild.created_at.desc(), Prebuild.id)
    )
    if statuses is not None:
        query = query.where(Prebuild.status.in_(list(statuses)))
    return list(await session.scalars(query))


async def with_status(session: AsyncSession, statuses: Iterable[str]) -> list[Prebuild]:
    """Every prebuild in `statuses`, oldest first."""
    query = (
        select(Prebuild).where(Prebuild.status.in_(list(statuses))).order_by(Prebuild.created_at)
    )
    return list(await session.scalars(query))


# dev commands ------------------------------------------------------------------------


async def dev_commands(session: AsyncSession, sandbox_id: str) -> list[SandboxDevCommand]:
    """A sandbox's dev commands, by name."""
    query = (
        select(SandboxDevCommand)
        .where(SandboxDevCommand.sandbox_id == sandbox_id)
        .order_by(SandboxDevCommand.name)
    )
    return list(await session.scalars(query))


async def dev_command(
    session: AsyncSession, sandbox_id: str, name: str
) -> SandboxDevCommand | None:
    """One dev command of a sandbox."""
    return await session.get(SandboxDevCommand, (sandbox_id, name))


async def put_dev_command(
    session: AsyncSession, sandbox_id: str, name: str, spec: dict[str, Any], visibility: str
) -> None:
    """Create or replace a dev command's definition (a kept visibility wins)."""
    row = await session.get(SandboxDevCommand, (sandbox_id, name))
    if row is None:
        session.add(SandboxDevCommand(
            sandbox_id=sandbox_id, name=name, spec=spec, visibility=visibility, published=False
        ))  # fmt: skip
    else:
        row.spec = spec


async def published(session: AsyncSession, sandbox_ids: Iterable[str]) -> list[SandboxDevCommand]:
    """The published dev ports of these sandboxes."""
    query = select(SandboxDevCommand).where(
        SandboxDevCommand.sandbox_id.in_(list(sandbox_ids)), SandboxDevCommand.published.is_(True)
    )
    return list(await session.scalars(query))


async def unpublish_all(session: AsyncSession, sandbox_id: str) -> None:
    """Mark every dev port of a sandbox unpublished (its routes are gone)."""
    for row in await dev_commands(session, sandbox_id):
        row.published = False


async def forget_sandbox(session: AsyncSession, sandbox_id: str) -> None:
    """Drop a destroyed sandbox's dev commands and saved memory record."""
    await session.execute(
        delete(SandboxDevCommand).where(SandboxDevCommand.sandbox_id == sandbox_id)
    )
    await session.execute(delete(SandboxSuspend).where(SandboxSuspend.sandbox_id == sandbox_id))


# paused sandboxes ----------------------------------------------------------------------


async def suspend(session: AsyncSession, sandbox_id: str) -> SandboxSuspend | None:
    """The saved memory of a paused sandbox."""
    return await session.get(SandboxSuspend, sandbox_id)


async def suspends(session: AsyncSession) -> list[SandboxSuspend]:
    """Every saved memory record."""
    return list(await session.scalars(select(SandboxSuspend)))
