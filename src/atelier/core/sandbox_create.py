"""Admitting a new sandbox: the creation request, its defaults, bounds and limits.

`SandboxCreator.create` lets the spawn planners (workspaces) fill and check the request,
applies the configured defaults, checks sizes against their bounds and the image, and
records the row as `queued` under a lock, so two requests cannot both take the last slot
of `limits.max_sandboxes` or `limits.max_sandboxes_per_user`. Spawning is not done here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from atelier.config import AtelierConfig
from atelier.core.auth import Principal
from atelier.core.lifecycle import COUNTED, Status
from atelier.core.queue import SpawnQueue
from atelier.core.runtime import Runtime
from atelier.core.spawn import SpawnPipeline, SpawnRequest
from atelier.db import Database
from atelier.db.models import Sandbox
from atelier.db.repos import sandboxes as repo
from atelier.errors import LimitExceeded, ValidationError
from atelier.runtime.host import names


@dataclass
class CreateRequest:
    """Validated creation parameters (bounds checked by the API schema and here)."""

    image: str | None = None
    workspace_id: str | None = None
    name: str | None = None
    vcpus: int | None = None
    memory_mb: int | None = None
    disk_gb: int | None = None


@runtime_checkable
class SpawnPlanner(Protocol):
    """An extension that shapes sandboxes before they spawn (workspaces: defaults, prebuilds).

    `admit` may fill and check a creation request (ValidationError, NotFound); `plan` turns
    the row's spawn request into the one to run (a prebuild to clone, a memory snapshot to
    resume, more guest ports). Planners are found among the pipeline's extensions.
    """

    async def admit(self, principal: Principal, request: CreateRequest) -> CreateRequest: ...

    async def plan(self, row: Sandbox, request: SpawnRequest, *, fresh: bool) -> SpawnRequest: ...


def planners(pipeline: SpawnPipeline) -> list[SpawnPlanner]:
    """The pipeline's extensions that are spawn planners, in order."""
    return [e for e in pipeline.extensions if isinstance(e, SpawnPlanner)]


@dataclass(eq=False)
class SandboxCreator:
    """Checks creation requests and records the new rows."""

    config: AtelierConfig
    db: Database
    runtime: Runtime
    pipeline: SpawnPipeline
    queue: SpawnQueue
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def create(self, principal: Principal, request: CreateRequest) -> Sandbox:
        """The new row, `queued` with its queue sequence number.

        ValidationError names a size out of bounds; LimitExceeded (429) names the limit
        when the caller or the host has too many.
        """
        for planner in planners(self.pipeline):
            request = await planner.admit(principal, request)
        defaults = self.config.sandbox
        image = request.image or self.config.images.default_image
        built = self.runtime.assets.image(image)
        vcpus = request.vcpus or defaults.vcpus
        memory = request.memory_mb or defaults.memory_mb or built.manifest.recommended_memory_mb
        disk = request.disk_gb or defaults.disk_gb
        _bound("vcpus", vcpus, 1, defaults.max_vcpus)
        _bound("memoryMb", memory, 128, defaults.max_memory_mb)
        _bound("diskGb", disk, 1, defaults.max_disk_gb)
        image_gb = -(-built.manifest.size_apparent // (1 << 30))
        if disk < image_gb:
            raise ValidationError(
                f"diskGb {disk} is smaller than image {image!r} ({image_gb} GiB)",
                field="diskGb",
                hint=f"use at least {image_gb}",
            )
        limits = self.config.limits
        async with self._lock, self.db.session() as session:
            total = await repo.count(session, [s.value for s in COUNTED])
            if total >= limits.max_sandboxes:
                raise LimitExceeded(
                    f"the host already has {total} sandboxes (limits.max_sandboxes = {limits.max_sandboxes})",
                    hint="destroy sandboxes you no longer need",
                    field="limits.max_sandboxes",
                )
            mine = await repo.count(session, [s.value for s in COUNTED], owner_id=principal.user_id)
            if mine >= limits.max_sandboxes_per_user:
                raise LimitExceeded(
                    f"you already have {mine} sandboxes"
                    f" (limits.max_sandboxes_per_user = {limits.max_sandboxes_per_user})",
                    hint="destroy sandboxes you no longer need",
                    field="limits.max_sandboxes_per_user",
                )
            sandbox_id = names.new_id()
            while await repo.get(session, sandbox_id) is not None:
                sandbox_id = names.new_id()
            row = Sandbox(
                id=sandbox_id,
                name=request.name,
                owner_id=principal.user_id,
                workspace_id=request.workspace_id,
                image=image,
                vcpus=vcpus,
                memory_mb=memory,
                disk_gb=disk,
                status=Status.QUEUED.value,
                queued_seq=self.queue.next_seq(),
                members=[],
            )
            session.add(row)
        return row


def _bound(field_name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValidationError(
            f"{field_name} {value} is out of range: allowed {low}..{high}",
            field=field_name,
        )
