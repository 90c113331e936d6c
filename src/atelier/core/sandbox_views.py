"""How a sandbox is shown: the `SandboxView` the API, CLI and dashboard render.

A view joins the row with what lives elsewhere: user names of the owner and members,
the network allocation of a live sandbox, and its place in the spawn queue.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atelier.core.lifecycle import LIVE, Status
from atelier.core.queue import SpawnQueue
from atelier.core.runtime import Runtime
from atelier.db import Database
from atelier.db.models import Sandbox
from atelier.db.repos import users as user_repo
from atelier.errors import AtelierError


@dataclass(frozen=True)
class SandboxView:
    """A sandbox as the API and CLI show it."""

    id: str
    name: str | None
    owner: str
    members: list[str]
    image: str
    workspace_id: str | None
    status: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    error: dict[str, Any] | None
    queue_position: int | None
    network: dict[str, Any] | None
    steps: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(eq=False)
class SandboxViews:
    """Builds views of sandbox rows."""

    db: Database
    runtime: Runtime
    queue: SpawnQueue

    async def view(self, row: Sandbox) -> SandboxView:
        """The row as shown, with names, network allocation and queue position."""
        async with self.db.session() as session:
            owner = await user_repo.get(session, row.owner_id)
            members = []
            for member in row.members:
                user = await user_repo.get(session, member.user_id)
                if user:
                    members.append(user.username)
        allocation = None
        network = self.runtime.network
        if network is not None and row.status in LIVE:
            with contextlib.suppress(AtelierError):
                found = [a for a in await network.allocations() if a.sandbox_id == row.id]
                allocation = found[0].to_dict() if found else None
        error = (
            {"step": row.error_step, "message": row.error_message}
            if row.status == Status.ERROR or row.error_message
            else None
        )
        return SandboxView(
            id=row.id,
            name=row.name,
            owner=owner.username if owner else row.owner_id,
            members=sorted(members),
            image=row.image,
            workspace_id=row.workspace_id,
            status=row.status,
            vcpus=row.vcpus,
            memory_mb=row.memory_mb,
            disk_gb=row.disk_gb,
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            error=error,
            queue_position=self.queue.position(row.id),
            network=allocation,
            steps=list(row.spawn_steps or []),
        )
