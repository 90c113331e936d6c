"""Prebuilds of workspaces: queueing builds, their status and logs, staleness, retirement.

One build runs at a time on the host (builds are heavy); a workspace has at most one build
queued or running, and a second request joins it. A build that fails leaves the last good
(`ready`) prebuild in use. When a new one is ready the previous one is `superseded` and its
volumes and memory file are removed after a grace period (a spawn may still be cloning it).
The staleness check compares the recorded commits with the remote branches; when a branch
moved (or the definition changed) a rebuild is queued. Builds interrupted by a manager
restart are marked failed at start, and stray prebuild volumes and memory files removed.

    queued ──► building ──► ready ──► superseded
                   │
                   └──► failed / cancelled
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from atelier.config import AtelierConfig
from atelier.core.auth import Principal
from atelier.core.events import EventBus
from atelier.core.prebuilds.builder import BuildPlan, BuildResult, PrebuildBuilder
from atelier.core.prebuilds.logs import BuildLog, read_chunk
from atelier.core.prebuilds.staleness import Staleness, check
from atelier.core.prebuilds.views import PrebuildView, WorkspacePrebuild, summary
from atelier.core.restore import supports_memory_snapshots
from atelier.core.runtime import Runtime
from atelier.core.secrets import SecretBox
from atelier.core.workspaces.gitauth import GitCredential
from atelier.core.workspaces.guest import StepStatus
from atelier.core.workspaces.service import WorkspaceRecord, WorkspaceService
from atelier.db import Database
from atelier.db.models import Prebuild
from atelier.db.repos import prebuilds as repo
from atelier.db.types import utcnow
from atelier.errors import AtelierError, NotFound, Unavailable, ValidationError
from atelier.runtime.host import names

log = logging.getLogger(__name__)

ACTIVE = ("queued", "building")
CHECK_INTERVAL_S = 1800.0
RETIRE_AFTER_S = 120.0
EnsureBase = Callable[[str], Any]


class PrebuildService:
    """Builds, status, logs and staleness of workspace prebuilds."""

    def __init__(
        self,
        config: AtelierConfig,
        db: Database,
        bus: EventBus,
        box: SecretBox,
        workspaces: WorkspaceService,
        runtime: Callable[[], Runtime | None],
        ensure_base: EnsureBase,
    ) -> None:
        self.config = config
        self.db = db
        self.bus = bus
        self.box = box
        self.workspaces = workspaces
        self._runtime = runtime
        self._ensure_base = ensure_base
        self._slot = asyncio.Semaphore(1)
        self._tasks: dict[str, asyncio.Task[None]] = {}  # prebuild id -> build
        self._logs: dict[str, BuildLog] = {}
        self._steps: dict[str, list[StepStatus]] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._upkeep: set[asyncio.Task[None]] = set()
        self.check_interval_s = CHECK_INTERVAL_S
        self.data_dir = config.paths.data_dir / "prebuilds"
        self.snapshot_dir = config.paths.data_dir / "snapshots"

    # requests ----------------------------------------------------------------------

    async def request(self, workspace_id: str, trigger: str) -> Prebuild:
        """Queue a build of the workspace (or return the one queued or running)."""
        record = await self.workspaces.internal(workspace_id)
        if record is None:
            raise NotFound(f"no workspace {workspace_id!r}", field="id")
        async with self.db.session() as session:
            active = await repo.of_workspace(session, workspace_id, statuses=ACTIVE)
            if active:
                return active[0]
            machine = self.workspaces.machine(record.spec)
            row = Prebuild(
                id=names.new_id(), workspace_id=workspace_id, status="queued", trigger=trigger,
                digest=record.spec.build_digest(), image=machine.image, vcpus=machine.vcpus,
                memory_mb=machine.memory_mb, disk_gb=machine.disk_gb, steps=[],
            )  # fmt: skip
            session.add(row)
        self._done[row.id] = asyncio.Event()
        self._tasks[row.id] = asyncio.create_task(self._run(row.id), name=f"prebuild-{row.id}")
        self._publish(row, record)
        return row

    async def trigger(self, principal: Principal, ref: str) -> PrebuildView:
        """Queue a build of a workspace the caller may see."""
        record = await self.workspaces.get(principal, ref)
        return await self.view(await self.request(record.id, "manual"))

    async def wait(self, prebuild_id: str, timeout: float) -> None:
        """Until the build finishes (or `timeout` passes)."""
        done = self._done.get(prebuild_id)
        if done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout)

    async def cancel(self, principal: Principal, ref: str) -> PrebuildView | None:
        """Cancel the workspace's queued or running build; the last good prebuild stays."""
        record = await self.workspaces.get(principal, ref)
        async with self.db.session() as session:
            active = await repo.of_workspace(session, record.id, statuses=ACTIVE)
        if not active:
            return None
        task = self._tasks.get(active[0].id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        else:
            await self._finish(active[0].id, "cancelled", error="cancelled")
        return await self.get(principal, ref, active[0].id)

    # building ----------------------------------------------------------------------

    async def _run(self, prebuild_id: str) -> None:
        try:
            async with self._slot:
                await self._build(prebuild_id)
        finally:
            self._tasks.pop(prebuild_id, None)
            self._done.pop(prebuild_id, asyncio.Event()).set()

    async def _build(self, prebuild_id: str) -> None:
        async with self.db.session() as session:
            row = await repo.get(session, prebuild_id)
            if row is None or row.status != "queued":
                return
            row.status, row.started_at = "building", utcnow()
        record = await self.workspaces.internal(row.workspace_id)
        if record is None:
            await self._finish(prebuild_id, "cancelled", error="the workspace was deleted")
            return
        self._publish(row, record)
        out = self._logs[prebuild_id] = BuildLog(self.data_dir / f"{prebuild_id}.log")
        self._steps[prebuild_id] = []
        try:
            runtime = self._runtime()
            if runtime is None:
                raise Unavailable("the manager is still starting")
            credentials = await self.credentials(record)
            builder = PrebuildBuilder(self.config, runtime, self._ensure_base, self.snapshot_dir)
            plan = BuildPlan(prebuild_id, row.image, row.vcpus, row.memory_mb, row.disk_gb,
                             record.spec.prebuild.memory)  # fmt: skip
            result = await builder.build(plan, record.spec, credentials, out,
                                         lambda s: self._step(prebuild_id, record, s))  # fmt: skip
        except asyncio.CancelledError:
            out.write("\ncancelled\n")
            await asyncio.shield(self._finish(prebuild_id, "cancelled", error="cancelled"))
            raise
        except AtelierError as exc:
            out.write(f"\nprebuild failed: {exc.message}\n")
            await self._finish(prebuild_id, "failed", error=exc.message)
        except Exception as exc:
            log.exception("prebuild %s crashed", prebuild_id)
            out.write(f"\nprebuild failed: internal error ({type(exc).__name__})\n")
            await self._finish(prebuild_id, "failed", error=f"internal error: {type(exc).__name__}")
        else:
            out.write("\nprebuild ready\n")
            await self._ready(prebuild_id, result, runtime)
        finally:
            out.close()
            self._logs.pop(prebuild_id, None)

    async def credentials(self, record: WorkspaceRecord) -> dict[str, GitCredential | None]:
        """The owner's git credentials for each repo (by path); ValidationError if missing."""
        found: dict[str, GitCredential | None] = {}
        for i, spec in enumerate(record.spec.repos):
            credential = None
            if spec.source is not None:
                credential = await self.workspaces.sources.credential(record.owner_id, spec.source)
                if credential is None or not credential.covers(spec.url):
                    raise ValidationError(
                        f"repos[{i}].source: git source {spec.source!r} is missing or not for"
                        f" {spec.url}", field=f"repos[{i}].source",
                    )  # fmt: skip
            found[spec.path] = credential
        return found

    def _step(self, prebuild_id: str, record: WorkspaceRecord, status: StepStatus) -> None:
        steps = self._steps.setdefault(prebuild_id, [])
        for i, known in enumerate(steps):
            if known.name == status.name:
                steps[i] = status
                break
        else:
            steps.append(status)
        self.bus.publish(
            "prebuild.step",
            {"workspaceId": record.id, "prebuildId": prebuild_id, **status.to_dict()},
            {record.owner_id},
        )

    async def _ready(self, prebuild_id: str, result: BuildResult, runtime: Runtime) -> None:
        async with self.db.session() as session:
            row = await repo.get(session, prebuild_id)
            assert row is not None
            for older in await repo.of_workspace(session, row.workspace_id, statuses=["ready"]):
                older.status, older.finished_at = "superseded", utcnow()
            row.disk_volume, row.commits = result.disk_volume, result.commits
            row.memory_volume = result.memory_volume
            row.memory_state = str(result.memory_state) if result.memory_state else None
            row.memory_token = (
                self.box.encrypt(result.memory_token) if result.memory_token else None
            )
            row.vmm = runtime.vmm.name
            row.network = runtime.network.name if runtime.network else None
        await self._finish(prebuild_id, "ready")
        self._retire_later()

    def _retire_later(self) -> None:
        """Remove what the superseded prebuild left once spawns cloning it are done."""
        from atelier.core.prebuilds.upkeep import retire

        async def later() -> None:
            await asyncio.sleep(RETIRE_AFTER_S + 1)
            try:
                await retire(self, RETIRE_AFTER_S)
            except AtelierError as exc:
                log.warning("removing superseded prebuilds failed: %s", exc.message)

        task = asyncio.create_task(later(), name="prebuild-retire")
        self._upkeep.add(task)
        task.add_done_callback(self._upkeep.discard)

    async def _finish(self, prebuild_id: str, status: str, *, error: str | None = None) -> None:
        async with self.db.session() as session:
            row = await repo.get(session, prebuild_id)
            if row is None:
                return
            row.status, row.error, row.finished_at = status, error, utcnow()
            row.steps = [s.to_dict() for s in self._steps.pop(prebuild_id, [])] or row.steps
        record = await self.workspaces.internal(row.workspace_id)
        if record is not None:
            self._publish(row, record)

    def _publish(self, row: Prebuild, record: WorkspaceRecord) -> None:
        data = {"workspaceId": record.id, "prebuildId": row.id, "status": row.status,
                "error": row.error}  # fmt: skip
        self.bus.publish("prebuild.status", data, {record.owner_id})

    # reading -----------------------------------------------------------------------

    async def view(self, row: Prebuild) -> PrebuildView:
        """A prebuild with its live steps while it builds."""
        steps = self._steps.get(row.id)
        return PrebuildView.of(row, [s.to_dict() for s in steps] if steps is not None else None)

    async def list(self, principal: Principal, ref: str) -> list[PrebuildView]:
        """The workspace's prebuilds, newest first."""
        record = await self.workspaces.get(principal, ref)
        async with self.db.session() as session:
            rows = await repo.of_workspace(session, record.id)
        return [await self.view(row) for row in rows]

    async def get(self, principal: Principal, ref: str, prebuild_id: str | None) -> PrebuildView:
        """One prebuild of the workspace (the newest with `None`)."""
        record = await self.workspaces.get(principal, ref)
        async with self.db.session() as session:
            rows = await repo.of_workspace(session, record.id)
        found = [r for r in rows if prebuild_id in (None, r.id)]
        if not found:
            raise NotFound(f"workspace {record.name!r} has no prebuild {prebuild_id or ''}".strip(),
                           field="prebuild")  # fmt: skip
        return await self.view(found[0])

    async def current(self, workspace_id: str) -> Prebuild | None:
        """The workspace's ready prebuild (spawns use it), or None."""
        async with self.db.session() as session:
            rows = await repo.of_workspace(session, workspace_id, statuses=["ready"])
        return rows[0] if rows else None

    async def state(self, workspace_id: str) -> WorkspacePrebuild:
        """The summary lists and the dashboard show."""
        async with self.db.session() as session:
            rows = await repo.of_workspace(session, workspace_id)
        return summary(rows)

    async def logs(
        self, principal: Principal, ref: str, prebuild_id: str | None, offset: int = 0
    ) -> tuple[str, int, bool]:
        """(text from `offset`, next offset, done) of a prebuild's log."""
        view = await self.get(principal, ref, prebuild_id)
        text, next_offset = read_chunk(self.data_dir / f"{view.id}.log", offset)
        return text, next_offset, view.id not in self._logs

    async def follow(
        self, principal: Principal, ref: str, prebuild_id: str | None, offset: int = 0
    ) -> AsyncIterator[tuple[str, int]]:
        """The log from `offset`, then live until the build ends."""
        view = await self.get(principal, ref, prebuild_id)
        live = self._logs.get(view.id)
        if live is not None:
            async for piece in live.follow(offset):
                yield piece
            return
        while True:
            text, offset = read_chunk(self.data_dir / f"{view.id}.log", offset)
            if not text:
                return
            yield text, offset

    # staleness and upkeep ------------------------------------------------------------

    async def check(self, workspace_id: str, *, rebuild: bool) -> Staleness | None:
        """Compare the ready prebuild with the remotes; queue a rebuild when stale."""
        record = await self.workspaces.internal(workspace_id)
        current = await self.current(workspace_id)
        if record is None or current is None:
            return None
        runtime = self._runtime()
        services = None
        if runtime is not None and runtime.network is not None and runtime.network.name == "user":
            services = str(self.config.network.user_services_addr)
        result = await check(record.spec, current.digest, dict(current.commits or {}),
                             await self.credentials(record), self.data_dir, services)  # fmt: skip
        async with self.db.session() as session:
            row = await repo.get(session, current.id)
            if row is not None:
                row.checked_at = utcnow()
                row.stale_reason = "; ".join(result.reasons) or None
        if result.stale:
            self.bus.publish("prebuild.stale", {"workspaceId": workspace_id, "prebuildId": current.id,
                             "reasons": result.reasons}, {record.owner_id})  # fmt: skip
            if rebuild:
                await self.request(workspace_id, "stale")
        return result

    async def check_visible(
        self, principal: Principal, ref: str, *, rebuild: bool
    ) -> Staleness | None:
        """`check` for a workspace the caller may see."""
        record = await self.workspaces.get(principal, ref)
        return await self.check(record.id, rebuild=rebuild)

    async def watch(self) -> None:
        """Every `check_interval_s`: check auto-prebuilt workspaces and retire old prebuilds."""
        while True:
            await asyncio.sleep(self.check_interval_s)
            await self.tick()

    async def tick(self) -> None:
        """One round of `watch`; errors are logged."""
        from atelier.core.prebuilds.upkeep import auto_workspaces, retire

        with contextlib.suppress(Exception):
            await retire(self, RETIRE_AFTER_S)
        for workspace_id in await auto_workspaces(self):
            try:
                await self.check(workspace_id, rebuild=True)
            except AtelierError as exc:
                log.warning("staleness check of workspace %s failed: %s", workspace_id, exc.message)

    def memory_usable(self, row: Prebuild, runtime: Runtime) -> bool:
        """Whether spawns can resume this prebuild's memory snapshot on this runtime."""
        network = runtime.network.name if runtime.network else None
        return bool(
            row.memory_state and row.memory_volume and row.memory_token
            and Path(row.memory_state).is_file()
            and row.vmm == runtime.vmm.name and supports_memory_snapshots(runtime.vmm)
            and row.network == network
        )  # fmt: skip

    async def stop(self) -> None:
        """Cancel builds (their rollback removes what they made)."""
        for task in [*self._tasks.values(), *self._upkeep]:
            task.cancel()
        await asyncio.gather(*self._tasks.values(), *self._upkeep, return_exceptions=True)


def retire_cutoff(seconds: float) -> Any:
    """Prebuilds superseded before this moment may be removed."""
    return utcnow() - timedelta(seconds=seconds)
