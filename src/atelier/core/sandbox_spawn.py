"""Spawning queued sandboxes and booting stopped ones through the spawn pipeline.

The spawn queue runs `_spawn` when a slot frees: the row moves to `creating`, the planners
shape its spawn request, the pipeline runs with every step published as `sandbox.step`.
Success records the VM and registers its agent (`running`); a failed step records where
and why (`error`). Starting a stopped sandbox uses `plan`, `running` and `fail` the same way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from atelier.core.guests import AgentPool
from atelier.core.lifecycle import Status
from atelier.core.queue import SpawnQueue
from atelier.core.sandbox_create import planners
from atelier.core.sandbox_handles import handle_to_json
from atelier.core.sandbox_records import SandboxRecords, audience
from atelier.core.sandbox_vms import SandboxVms
from atelier.core.secrets import SecretBox
from atelier.core.spawn import (
    SpawnContext,
    SpawnPipeline,
    SpawnRequest,
    StepFailed,
    StepObserver,
)
from atelier.db.models import Sandbox
from atelier.db.repos import sandboxes as repo
from atelier.db.types import utcnow
from atelier.errors import AtelierError


@dataclass(eq=False)
class SandboxSpawner:
    """Runs the spawn pipeline for sandboxes and records the outcome."""

    records: SandboxRecords
    vms: SandboxVms
    pipeline: SpawnPipeline
    queue: SpawnQueue
    agents: AgentPool
    secrets: SecretBox

    def enqueue(self, sandbox_id: str, seq: int) -> None:
        """Hand a `queued` sandbox to the spawn queue at its sequence number."""
        self.queue.submit(sandbox_id, seq, lambda: self._spawn(sandbox_id))

    async def _spawn(self, sandbox_id: str) -> None:
        live = self.vms.live(sandbox_id)
        async with live.lock:
            row = await self.records.transition(sandbox_id, Status.CREATING)
            try:
                request = await self.plan(row, fresh=True)
                ctx = await self.pipeline.create(request, on_step=self.step_event(row))
            except StepFailed as failure:
                await self.fail(sandbox_id, failure)
                return
            except asyncio.CancelledError:
                await self.records.set_status(
                    sandbox_id,
                    Status.ERROR,
                    error=("interrupted", "the manager stopped during the spawn"),
                )
                raise
            await self.running(sandbox_id, ctx, source_volume=ctx.source_volume)

    async def plan(self, row: Sandbox, *, fresh: bool) -> SpawnRequest:
        """The spawn request for the row, shaped by every planner; StepFailed("plan")."""
        request = _request(row)
        for planner in planners(self.pipeline):
            try:
                request = await planner.plan(row, request, fresh=fresh)
            except AtelierError as exc:
                raise StepFailed("plan", exc, []) from exc
        return request

    def step_event(self, row: Sandbox) -> StepObserver:
        """A pipeline observer that publishes each finished step to the row's audience."""
        people = audience(row)

        async def observe(step: str, ctx: SpawnContext) -> None:
            record = ctx.steps[-1]
            self.records.bus.publish("sandbox.step", {"id": row.id, **record.to_dict()}, people)

        return observe

    async def running(
        self, sandbox_id: str, ctx: SpawnContext, source_volume: str | None = None
    ) -> None:
        """Record a booted VM: `running`, its handle, token and steps; watch its process."""
        assert ctx.handle is not None and ctx.client is not None
        handle = ctx.handle
        async with self.records.db.session() as session:
            row = await repo.get(session, sandbox_id)
            assert row is not None
            row.status = Status.RUNNING.value
            row.vm = handle_to_json(handle)
            row.agent_token = self.secrets.encrypt(ctx.token)
            row.volume = ctx.volume
            if source_volume:
                row.source_volume = source_volume
            row.spawn_steps = [s.to_dict() for s in ctx.steps]
            row.error_step = row.error_message = None
            row.started_at = row.last_activity_at = utcnow()
        self.agents.register(sandbox_id, handle.agent, ctx.token, ctx.client)
        self.vms.watch(sandbox_id, handle)
        self.records.publish(row, "sandbox.status")

    async def fail(self, sandbox_id: str, failure: StepFailed) -> None:
        """Record a failed spawn or start: `error`, the step, its message, the steps run."""
        async with self.records.db.session() as session:
            row = await repo.get(session, sandbox_id)
            if row is None:
                return
            row.status = Status.ERROR.value
            row.error_step = failure.step
            row.error_message = failure.message
            row.spawn_steps = [s.to_dict() for s in failure.steps]
            row.vm = None
        self.records.publish(row, "sandbox.status")


def _request(row: Sandbox) -> SpawnRequest:
    return SpawnRequest(
        sandbox_id=row.id,
        image=row.image,
        vcpus=row.vcpus,
        memory_mb=row.memory_mb,
        disk_gb=row.disk_gb,
        hostname=f"sandbox-{row.id}",
    )
