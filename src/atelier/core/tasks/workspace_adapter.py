"""`WorkspaceLookup` over the workspace subsystem (`atelier.core.workspaces`).

Repositories are named after their clone directory; a repository whose definition names a
git source may have its task branches pushed (the source holds the credentials). The
workspace definition's `opencode` section becomes its OpenCode settings. Owners and
admins may edit a workspace's templates and OpenCode config.
"""

from __future__ import annotations

import posixpath

from atelier.core.auth import Principal
from atelier.core.tasks.workspaces import TaskRepo, TaskWorkspace
from atelier.core.workspaces.install import Workspaces
from atelier.core.workspaces.service import WorkspaceRecord
from atelier.errors import NotFound


class WorkspaceAdapter:
    """Implements `WorkspaceLookup` for a manager with workspaces."""

    def __init__(self, subsystem: Workspaces) -> None:
        self._subsystem = subsystem

    async def _convert(self, record: WorkspaceRecord) -> TaskWorkspace:
        spec = record.spec
        machine = self._subsystem.workspaces.machine(spec)
        repos = tuple(
            TaskRepo(
                name=posixpath.basename(r.path.rstrip("/")) or r.path,
                path=r.guest_path,
                branch=r.branch,
                can_push=r.source is not None,
            )
            for r in spec.repos
        )
        prebuild = await self._subsystem.prebuilds.current(record.id)
        return TaskWorkspace(
            id=record.id,
            name=record.name,
            repos=repos,
            image=machine.image,
            vcpus=machine.vcpus,
            memory_mb=machine.memory_mb,
            disk_gb=machine.disk_gb,
            has_prebuild=prebuild is not None,
            opencode_config=dict(spec.opencode or {}),
            member_ids=frozenset({record.owner_id}),
        )

    async def get(self, principal: Principal, workspace_id: str) -> TaskWorkspace:
        try:
            record = await self._subsystem.workspaces.get(principal, workspace_id)
        except NotFound as exc:
            raise NotFound(exc.message, field="workspaceId", hint=exc.hint) from exc
        return await self._convert(record)

    async def find(self, workspace_id: str) -> TaskWorkspace | None:
        record = await self._subsystem.workspaces.internal(workspace_id)
        return await self._convert(record) if record is not None else None

    async def can_edit(self, principal: Principal, workspace_id: str) -> bool:
        record = await self._subsystem.workspaces.internal(workspace_id)
        return record is not None and (principal.is_admin or record.owner_id == principal.user_id)
