"""Building a prebuild: the expensive setup once, then a disk snapshot and a memory snapshot.

    build VM  ─ boot ─ clone repos ─ init commands ─ sync ─ power off ─► disk snapshot
    snap VM   ─ boot from the disk snapshot ─ sync ─► memory snapshot + its disk snapshot

The build VM sees the git credentials (for the clone only); it is powered off cleanly, so
the disk prebuild is a clean filesystem. The memory snapshot comes from a *second* VM booted
from that disk, which never saw a credential or a secret: nothing secret can be in the saved
memory. Spawns clone the disk snapshot (boot) or the memory pair (resume). Both VMs are
internal (ids that no sandbox row has, so a manager restart's reconcile removes them) and
run without extensions (no routes, no SSH keys). On any failure everything made is undone.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from atelier.config import AtelierConfig
from atelier.core.restore import capture, supports_memory_snapshots
from atelier.core.rollback import Rollback
from atelier.core.runtime import Runtime
from atelier.core.spawn import SpawnContext, SpawnPipeline, SpawnRequest
from atelier.core.workspaces.gitauth import GitCredential
from atelier.core.workspaces.guest import LogSink, StepCallback, StepStatus, setup_workspace
from atelier.core.workspaces.model import WorkspaceSpec
from atelier.errors import AtelierError
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.host import names, proc

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class BuildPlan:
    """What to build: the prebuild's id and the machine its sandboxes will have."""

    prebuild_id: str
    image: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    memory: bool  # also take a memory snapshot


@dataclass(frozen=True)
class BuildResult:
    """What a finished build left: volumes, the memory state file and its agent token."""

    disk_volume: str
    commits: dict[str, str]
    memory_volume: str | None = None
    memory_state: Path | None = None
    memory_token: str | None = None


class PrebuildBuilder:
    """Runs one build at a time per call; the service serialises builds."""

    def __init__(
        self,
        config: AtelierConfig,
        runtime: Runtime,
        ensure_base: Callable[[str], Awaitable[str]],
        snapshot_dir: Path,
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.ensure_base = ensure_base
        self.snapshot_dir = snapshot_dir
        self.pipeline = SpawnPipeline(config, runtime)  # no extensions: internal VMs

    async def build(
        self,
        plan: BuildPlan,
        spec: WorkspaceSpec,
        credentials: dict[str, GitCredential | None],
        out: LogSink,
        on_step: StepCallback,
    ) -> BuildResult:
        """Run the build; raises AtelierError (nothing left behind) when a step fails."""
        async with Rollback(f"prebuild {plan.prebuild_id}") as rollback:
            base = await self.ensure_base(plan.image)
            ctx = await self._boot(plan, base, "build VM", out, on_step)
            rollback.push("discard the build VM", lambda: self._discard(ctx))
            commits = await setup_workspace(_client(ctx), spec, credentials, out, on_step)
            await self._power_off(ctx, out, on_step)
            disk = names.prebuild_volume(plan.prebuild_id)
            await self._phase(on_step, "disk snapshot", self._snapshot_volume(ctx, disk))
            rollback.push(f"delete {disk}", lambda: self.runtime.storage.delete(disk, force=True))
            await self._discard(ctx)
            result = BuildResult(disk, commits)
            if plan.memory and supports_memory_snapshots(self.runtime.vmm):
                result = await self._memory(plan, result, rollback, out, on_step)
            rollback.keep()
        return result

    async def _memory(
        self,
        plan: BuildPlan,
        result: BuildResult,
        rollback: Rollback,
        out: LogSink,
        on_step: StepCallback,
    ) -> BuildResult:
        ctx = await self._boot(plan, result.disk_volume, "memory VM", out, on_step)
        rollback.push("discard the memory VM", lambda: self._discard(ctx))
        client = _client(ctx)
        await client.exec(["sync"], user="root", timeout=120)
        assert ctx.handle is not None
        state = self.snapshot_dir / names.memory_state("pre", plan.prebuild_id)
        out.write("saving the booted guest's memory\n")
        await self._phase(on_step, "memory snapshot", capture(self.runtime.vmm, ctx.handle, state))
        rollback.push(f"remove {state.name}", _unlink(state))
        memory_volume = names.prebuild_volume(names.new_id())
        await self._snapshot_volume(ctx, memory_volume)
        rollback.push(
            f"delete {memory_volume}",
            lambda: self.runtime.storage.delete(memory_volume, force=True),
        )
        await self._discard(ctx)
        return BuildResult(result.disk_volume, result.commits, memory_volume, state, ctx.token)

    async def _boot(
        self, plan: BuildPlan, source: str, label: str, out: LogSink, on_step: StepCallback
    ) -> SpawnContext:
        vm_id = names.new_id()
        request = SpawnRequest(
            sandbox_id=vm_id, image=plan.image, vcpus=plan.vcpus, memory_mb=plan.memory_mb,
            disk_gb=plan.disk_gb, hostname=f"prebuild-{vm_id}", source_volume=source,
        )  # fmt: skip
        out.write(f"booting the {label} ({plan.vcpus} vCPU, {plan.memory_mb} MiB) from {source}\n")
        return await self._phase(on_step, f"boot {label}", self.pipeline.create(request))

    async def _power_off(self, ctx: SpawnContext, out: LogSink, on_step: StepCallback) -> None:
        client = _client(ctx)
        assert ctx.handle is not None
        out.write("syncing and powering the build VM off\n")
        await client.exec(["sync"], user="root", timeout=120)
        with contextlib.suppress(AtelierError, OSError):
            await client.poweroff()
        await client.close()
        if not await proc.wait_for_exit(ctx.handle.pid, 60):
            log.warning("build VM %s did not power off; killing it", ctx.handle.name)
        await self.runtime.vmm.kill(ctx.handle)

    async def _snapshot_volume(self, ctx: SpawnContext, name: str) -> None:
        assert ctx.volume is not None
        await self.runtime.storage.snapshot(ctx.volume, name)

    async def _discard(self, ctx: SpawnContext) -> None:
        """Remove an internal VM and everything it had (idempotent)."""
        if ctx.client is not None:
            with contextlib.suppress(AtelierError, OSError):
                await ctx.client.close()
        if ctx.handle is not None:
            await self.runtime.vmm.kill(ctx.handle)
        if self.runtime.network is not None:
            await self.runtime.network.release(ctx.request.sandbox_id)
        if ctx.volume is not None:
            with contextlib.suppress(AtelierError):
                await self.runtime.storage.delete(ctx.volume, force=True)

    @staticmethod
    async def _phase(on_step: StepCallback, name: str, work: Awaitable[T]) -> T:
        on_step(StepStatus(name, "running"))
        started = time.monotonic()
        try:
            value = await work
        except BaseException:
            on_step(StepStatus(name, "failed", None, round(time.monotonic() - started, 2)))
            raise
        on_step(StepStatus(name, "ok", 0, round(time.monotonic() - started, 2)))
        return value


def _client(ctx: SpawnContext) -> AgentClient:
    assert ctx.client is not None
    return ctx.client


def _unlink(path: Path) -> Callable[[], Awaitable[None]]:
    async def remove() -> None:
        path.unlink(missing_ok=True)

    return remove
