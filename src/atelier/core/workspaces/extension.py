"""How workspaces join the sandbox lifecycle: planning spawns and setting guests up.

`WorkspaceSandboxes` is both a `SpawnPlanner` and a `SandboxExtension` (spawn step
`workspace`):

- `admit` fills a workspace sandbox's image and resources from the definition (and checks
  the caller may use the workspace);
- `plan` picks how it is made: resume the ready prebuild's memory snapshot when the machine
  matches, else clone its disk, else cold (base image; repos and init run at spawn); it
  also asks for the guest ports of dev commands;
- `on_running` injects the environment and secrets into tmpfs (also after a restore: they
  are never in a snapshot), writes the OpenCode config, defines the dev commands and starts
  the autostart ones; for a cold spawn it first clones and runs init. A resumed (paused)
  sandbox only gets its dev routes back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

from atelier.core.auth import Principal
from atelier.core.devcmds import DevCommandService
from atelier.core.lifecycle import Status
from atelier.core.prebuilds.service import PrebuildService
from atelier.core.restore import Restore
from atelier.core.rollback import Rollback
from atelier.core.runtime import Runtime
from atelier.core.sandboxes import CreateRequest, SandboxService
from atelier.core.spawn import SpawnContext, SpawnRequest
from atelier.core.workspaces.guest import (
    SetupFailed,
    TailLog,
    install_environment,
    setup_workspace,
    write_opencode,
)
from atelier.core.workspaces.service import WorkspaceRecord, WorkspaceService
from atelier.db import Database
from atelier.db.models import Prebuild, Sandbox
from atelier.db.repos import prebuilds as pre_repo
from atelier.db.repos import workspaces as ws_repo

log = logging.getLogger(__name__)


class WorkspaceSandboxes:
    """Spawn planner and spawn step for sandboxes made from workspaces."""

    name = "workspace"

    def __init__(
        self,
        db: Database,
        workspaces: WorkspaceService,
        prebuilds: PrebuildService,
        dev: DevCommandService,
        sandboxes: Callable[[], SandboxService],
        runtime: Callable[[], Runtime | None],
    ) -> None:
        self.db = db
        self.workspaces = workspaces
        self.prebuilds = prebuilds
        self.dev = dev
        self._sandboxes = sandboxes
        self._runtime = runtime

    # SpawnPlanner --------------------------------------------------------------------

    async def admit(self, principal: Principal, request: CreateRequest) -> CreateRequest:
        if not request.workspace_id:
            return request
        record = await self.workspaces.get(principal, request.workspace_id)
        machine = self.workspaces.machine(record.spec)
        return dataclasses.replace(
            request,
            workspace_id=record.id,
            image=request.image or machine.image,
            vcpus=request.vcpus or machine.vcpus,
            memory_mb=request.memory_mb or machine.memory_mb,
            disk_gb=request.disk_gb or machine.disk_gb,
        )

    async def plan(self, row: Sandbox, request: SpawnRequest, *, fresh: bool) -> SpawnRequest:
        if not row.workspace_id:
            return request
        record = await self.workspaces.internal(row.workspace_id)
        if record is None:
            return request  # the workspace was deleted: a plain sandbox
        request = dataclasses.replace(
            request, workspace_id=record.id, guest_ports=record.spec.guest_ports()
        )
        if not fresh:
            return request
        mode, prebuild, source, restore = "cold", None, None, None
        current = await self.prebuilds.current(record.id)
        runtime = self._runtime()
        if current is not None and runtime is not None and current.image == row.image:
            if _same_machine(current, row) and self.prebuilds.memory_usable(current, runtime):
                assert current.memory_state and current.memory_token and current.memory_volume
                token = self.prebuilds.box.decrypt(current.memory_token)
                mode, source = "memory", current.memory_volume
                restore = Restore(Path(current.memory_state), token, new_identity=True)
            elif current.disk_volume and current.disk_gb <= row.disk_gb:
                mode, source = "disk", current.disk_volume
            prebuild = current.id if mode != "cold" else None
        async with self.db.session() as session:
            await ws_repo.record_origin(session, row.id, record.id, prebuild, mode)
        return dataclasses.replace(request, source_volume=source, restore=restore)

    # SandboxExtension ----------------------------------------------------------------

    async def on_running(self, ctx: SpawnContext, rollback: Rollback) -> None:
        workspace_id = ctx.request.workspace_id
        if workspace_id is None or ctx.client is None:
            return
        record = await self.workspaces.internal(workspace_id)
        if record is None:
            return
        sandbox_id, client = ctx.request.sandbox_id, ctx.client
        restore = ctx.request.restore
        if restore is not None and not restore.new_identity:
            await self.dev.republish(
                sandbox_id, client
            )  # resumed: its tmpfs and processes are back
            return
        await self._discard_saved_memory(sandbox_id)
        fresh = any(step.step == "volume" for step in ctx.steps)
        if fresh and await self._mode(sandbox_id) == "cold":
            await self._cold_setup(record, ctx)
        secrets = await self.workspaces.secret_values(workspace_id)
        spec = record.spec
        env = {**spec.env, **{n: secrets[n] for n in spec.env_secrets if n in secrets}}
        files = [(decl, secrets[decl.name]) for decl in spec.file_secrets if decl.name in secrets]
        await install_environment(client, env, files)
        if spec.opencode:
            await write_opencode(client, spec.opencode)
        await self.dev.install(sandbox_id, spec.dev, client, seed=fresh)

    async def on_stopped(self, sandbox_id: str) -> None:
        row = await self._sandboxes().lookup(sandbox_id)
        if row is None:
            return
        if row.status in (Status.STOPPING, Status.DESTROYING):
            await self._discard_saved_memory(sandbox_id)
        await self.dev.stopped(sandbox_id, destroyed=row.status == Status.DESTROYING)

    async def _cold_setup(self, record: WorkspaceRecord, ctx: SpawnContext) -> None:
        assert ctx.client is not None
        out = TailLog()
        try:
            credentials = await self.prebuilds.credentials(record)
            await setup_workspace(ctx.client, record.spec, credentials, out)
        except SetupFailed as exc:
            tail = out.text.strip()[-600:]
            raise SetupFailed(f"{exc.message}; output: {tail}" if tail else exc.message,
                              hint=exc.hint, field=exc.field) from exc  # fmt: skip

    async def _mode(self, sandbox_id: str) -> str:
        async with self.db.session() as session:
            origin = await ws_repo.sandbox_origin(session, sandbox_id)
        return origin.mode if origin is not None else "cold"

    async def _discard_saved_memory(self, sandbox_id: str) -> None:
        async with self.db.session() as session:
            saved = await pre_repo.suspend(session, sandbox_id)
            if saved is not None:
                with contextlib.suppress(OSError):
                    Path(saved.state_file).unlink(missing_ok=True)
                await session.delete(saved)


def _same_machine(prebuild: Prebuild, row: Sandbox) -> bool:
    return (prebuild.vcpus, prebuild.memory_mb, prebuild.disk_gb) == (
        row.vcpus,
        row.memory_mb,
        row.disk_gb,
    )
