"""Workspaces, their secrets (ciphertext only) and git sources."""

from __future__ import annotations

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.db.models import GitSource, Sandbox, SandboxWorkspace, Workspace, WorkspaceSecret


async def get(session: AsyncSession, workspace_id: str) -> Workspace | None:
    """One workspace by id."""
    return await session.get(Workspace, workspace_id)


async def by_name(session: AsyncSession, owner_id: str, name: str) -> Workspace | None:
    """An owner's workspace by name."""
    query = select(Workspace).where(Workspace.owner_id == owner_id, Workspace.name == name)
    return (await session.scalars(query)).first()


async def visible(session: AsyncSession, user_id: str, *, is_admin: bool) -> list[Workspace]:
    """Workspaces a user may see (their own; admins see all), by name."""
    query = select(Workspace).order_by(Workspace.name, Workspace.id)
    if not is_admin:
        query = query.where(Workspace.owner_id == user_id)
    return list(await session.scalars(query))


async def all_workspaces(session: AsyncSession) -> list[Workspace]:
    """Every workspace (for the periodic staleness check)."""
    return list(await session.scalars(select(Workspace).order_by(Workspace.id)))


async def live_sandboxes(
    session: AsyncSession, workspace_id: str, statuses: list[str]
) -> list[str]:
    """Ids of the workspace's sandboxes in `statuses`."""
    query = select(Sandbox.id).where(
        Sandbox.workspace_id == workspace_id, Sandbox.status.in_(statuses)
    )
    return list(await session.scalars(query))


async def sandbox_counts(session: AsyncSession, statuses: list[str]) -> dict[str, int]:
    """Per workspace id, how many of its sandboxes are in `statuses`."""
    query = (
        select(Sandbox.workspace_id, func.count())
        .where(Sandbox.workspace_id.is_not(None), Sandbox.status.in_(statuses))
        .group_by(Sandbox.workspace_id)
    )
    return {str(ws): int(n) for ws, n in (await session.execute(query)).all()}


# secrets -----------------------------------------------------------------------------


async def secrets(session: AsyncSession, workspace_id: str) -> list[WorkspaceSecret]:
    """The workspace's secret rows (values still encrypted), by name."""
    query = (
        select(WorkspaceSecret)
        .where(WorkspaceSecret.workspace_id == workspace_id)
        .order_by(WorkspaceSecret.name)
    )
    return list(await session.scalars(query))


async def put_secret(session: AsyncSession, workspace_id: str, name: str, ciphertext: str) -> None:
    """Create or replace one secret's (encrypted) value."""
    query = select(WorkspaceSecret).where(
        WorkspaceSecret.workspace_id == workspace_id, WorkspaceSecret.name == name
    )
    row = (await session.scalars(query)).first()
    if row is None:
        session.add(WorkspaceSecret(workspace_id=workspace_id, name=name, value=ciphertext))
    else:
        row.value = ciphertext


async def delete_secret(session: AsyncSession, workspace_id: str, name: str) -> bool:
    """Remove one secret; False when there was none."""
    result = await session.execute(
        delete(WorkspaceSecret).where(
            WorkspaceSecret.workspace_id == workspace_id, WorkspaceSecret.name == name
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def prune_secrets(session: AsyncSession, workspace_id: str, keep: set[str]) -> None:
    """Delete the workspace's secrets whose names are not in `keep`."""
    for row in await secrets(session, workspace_id):
        if row.name not in keep:
            await session.delete(row)


# git sources -------------------------------------------------------------------------


async def git_source(session: AsyncSession, owner_id: str, ref: str) -> GitSource | None:
    """An owner's git source by id or name."""
    query = select(GitSource).where(
        GitSource.owner_id == owner_id, or_(GitSource.id == ref, GitSource.name == ref)
    )
    return (await session.scalars(query)).first()


async def git_sources(session: AsyncSession, owner_id: str | None) -> list[GitSource]:
    """An owner's git sources (every source for None), by name."""
    query = select(GitSource).order_by(GitSource.name)
    if owner_id is not None:
        query = query.where(GitSource.owner_id == owner_id)
    return list(await session.scalars(query))


async def sandbox_origin(session: AsyncSession, sandbox_id: str) -> SandboxWorkspace | None:
    """How a workspace sandbox was made (None for other sandboxes)."""
    return await session.get(SandboxWorkspace, sandbox_id)


async def record_origin(
    session: AsyncSession, sandbox_id: str, workspace_id: str, prebuild_id: str | None, mode: str
) -> None:
    """Remember (or update) how a workspace sandbox was made."""
    row = await session.get(SandboxWorkspace, sandbox_id)
    if row is None:
        session.add(SandboxWorkspace(
            sandbox_id=sandbox_id, workspace_id=workspace_id, prebuild_id=prebuild_id, mode=mode
        ))  # fmt: skip
    else:
        row.workspace_id, row.prebuild_id, row.mode = workspace_id, prebuild_id, mode


async def origins(session: AsyncSession, workspace_id: str) -> list[SandboxWorkspace]:
    """How each of a workspace's sandboxes was made, newest first."""
    query = (
        select(SandboxWorkspace)
        .where(SandboxWorkspace.workspace_id == workspace_id)
        .order_by(SandboxWorkspace.created_at.desc())
    )
    return list(await session.scalars(query))
