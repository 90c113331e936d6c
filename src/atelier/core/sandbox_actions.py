"""Lifecycle actions a user asks for: stop, start, restart and destroy a sandbox.

Each action checks access, then holds the sandbox's lock while it moves through the
state machine, so a conflicting request waits or gets 409. Stop keeps the volume; start
boots it again with full guest setup; destroy removes the VM, network, routes, volume and
logs and keeps the row as `destroyed`. Pausing to memory is `pause.py`'s job.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass

from atelier.core.auth import Principal
from atelier.core.lifecycle import Status
from atelier.core.queue import SpawnQueue
from atelier.core.runtime import Runtime
from atelier.core.sandbox_records import SandboxRecords
from atelier.core.sandbox_spawn import SandboxSpawner
from atelier.core.sandbox_views import SandboxView, SandboxViews
from atelier.core.sandbox_vms import SandboxVms
from atelier.core.spawn import StepFailed
from atelier.errors import Conflict, Forbidden, NotFound


@dataclass(eq=False)
class SandboxActions:
    """Stop, start, restart and destroy."""

    records: SandboxRecords
    views: SandboxViews
    vms: SandboxVms
    spawner: SandboxSpawner
    runtime: Runtime
    queue: SpawnQueue

    async def stop(self, principal: Principal, sandbox_id: str) -> SandboxView:
        """Power the guest off cleanly; the volume (and its data) stays."""
        row = await self.records.load(principal, sandbox_id)
        live = self.vms.live(sandbox_id)
        async with live.lock:
            row = await self.records.transition(sandbox_id, Status.STOPPING)
            await self.vms.shutdown(row, graceful=True)
            row = await self.records.set_status(sandbox_id, Status.STOPPED, stopped=True)
        return await self.views.view(row)

    async def start(self, principal: Principal, sandbox_id: str) -> SandboxView:
        """Boot a stopped (or failed) sandbox again from its volume, with full guest setup."""
        row = await self.records.load(principal, sandbox_id)
        live = self.vms.live(sandbox_id)
        async with live.lock:
            if row.status == Status.ERROR and not row.volume:
                raise Conflict(
                    f"sandbox {sandbox_id} failed before its volume existed; nothing to start",
                    hint=f"destroy it: atelier sandbox rm {sandbox_id}",
                )
            row = await self.records.transition(sandbox_id, Status.STARTING)
            try:
                request = await self.spawner.plan(row, fresh=False)
                ctx = await self.spawner.pipeline.start(
                    request, on_step=self.spawner.step_event(row)
                )
            except StepFailed as failure:
                await self.spawner.fail(sandbox_id, failure)
                raise
            await self.spawner.running(sandbox_id, ctx)
        return await self.views.view(await self.records.load(principal, sandbox_id))

    async def restart(self, principal: Principal, sandbox_id: str) -> SandboxView:
        """Stop then start."""
        await self.stop(principal, sandbox_id)
        return await self.start(principal, sandbox_id)

    async def destroy(self, principal: Principal, sandbox_id: str) -> None:
        """Remove the sandbox's VM, network, routes and volume; the row stays as `destroyed`."""
        row = await self.records.load(principal, sandbox_id)
        if row.owner_id != principal.user_id and not principal.is_admin:
            raise Forbidden("only the owner (or an admin) can destroy a sandbox")
        if row.status == Status.QUEUED:
            self.queue.cancel(sandbox_id)
        live = self.vms.live(sandbox_id)
        async with live.lock:
            row = await self.records.transition(sandbox_id, Status.DESTROYING)
            await self.vms.shutdown(row, graceful=False)
            if row.volume:
                with contextlib.suppress(NotFound):
                    await self.runtime.storage.delete(row.volume, force=True)
            shutil.rmtree(self.spawner.pipeline.logs_dir(sandbox_id), ignore_errors=True)
            row = await self.records.set_status(sandbox_id, Status.DESTROYED, destroyed=True)
        self.vms.drop(sandbox_id)
        self.records.publish(row, "sandbox.destroyed")
