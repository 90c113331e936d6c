"""Sandboxes: creation, lifecycle, access control, and use of a running guest.

Every public method takes the calling `Principal` and checks access first: owners,
members and admins see a sandbox; anybody else gets 404, so existence does not leak.
Lifecycle operations hold a per-sandbox lock and move through the state machine in
`lifecycle.py`; illegal transitions are 409. Creation returns at once with the sandbox
`queued`; the spawn queue admits it when a slot frees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from atelier.config import AtelierConfig
from atelier.core.auth import Principal
from atelier.core.events import EventBus
from atelier.core.guests import AgentPool
from atelier.core.lifecycle import COUNTED, LIVE, Status, check_transition
from atelier.core.queue import SpawnQueue
from atelier.core.runtime import Runtime
from atelier.core.secrets import SecretBox
from atelier.core.spawn import (
    SpawnContext,
    SpawnPipeline,
    SpawnRequest,
    StepFailed,
    keep_console,
)
from atelier.db import Database
from atelier.db.models import Sandbox, SandboxMember
from atelier.db.repos import sandboxes as repo
from atelier.db.repos import users as user_repo
from atelier.db.types import utcnow
from atelier.errors import (
    AtelierError,
    Conflict,
    Forbidden,
    LimitExceeded,
    NotFound,
    ValidationError,
)
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.agent.endpoint import AgentEndpoint
from atelier.runtime.host import names, proc
from atelier.runtime.storage import PoolEvent, PoolWatcher
from atelier.runtime.vmm.base import VmHandle, VmState

log = logging.getLogger(__name__)

POOL_FULL = "storage"  # error_step of a sandbox its VMM paused because the pool was full


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


@dataclass
class _Live:
    """In-memory companions of a live sandbox."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    handle: VmHandle | None = None
    expected_exit: bool = False
    watcher: asyncio.Task[None] | None = None


class SandboxService:
    """The lifecycle of sandboxes and access to running guests."""

    def __init__(
        self,
        config: AtelierConfig,
        db: Database,
        bus: EventBus,
        secrets_box: SecretBox,
        runtime: Runtime,
    ) -> None:
        self.config = config
        self.db = db
        self.bus = bus
        self.secrets = secrets_box
        self.runtime = runtime
        self.pipeline = SpawnPipeline(config, runtime)
        self.queue = SpawnQueue(config.limits.max_concurrent_spawns)
        self.agents = AgentPool()
        self._live: dict[str, _Live] = {}
        self._create_lock = asyncio.Lock()
        self._closing = False

    # access --------------------------------------------------------------------------

    async def _load(self, principal: Principal, sandbox_id: str) -> Sandbox:
        async with self.db.session() as session:
            row = await repo.get(session, sandbox_id)
        if row is None or not _can_see(principal, row):
            raise NotFound(
                f"no sandbox {sandbox_id!r}",
                field="id",
                hint="list yours with `atelier sandbox list`",
            )
        return row

    async def _view(self, row: Sandbox) -> SandboxView:
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

    async def get(self, principal: Principal, sandbox_id: str) -> SandboxView:
        """One sandbox the caller may see."""
        return await self._view(await self._load(principal, sandbox_id))

    async def list_visible(
        self,
        principal: Principal,
        *,
        status: list[str] | None = None,
        workspace_id: str | None = None,
        include_destroyed: bool = False,
    ) -> list[SandboxView]:
        """The sandboxes the caller may see, newest first."""
        if status:
            allowed = {s.value for s in Status}
            for value in status:
                if value not in allowed:
                    raise ValidationError(
                        f"status {value!r} is not a sandbox status; use one of {', '.join(sorted(allowed))}",
                        field="status",
                    )
        async with self.db.session() as session:
            rows = await repo.visible(
                session,
                principal.user_id,
                is_admin=principal.is_admin,
                statuses=status,
                workspace_id=workspace_id,
                include_destroyed=include_destroyed,
            )
        return [await self._view(row) for row in rows]

    # creation ------------------------------------------------------------------------

    async def create(self, principal: Principal, request: CreateRequest) -> SandboxView:
        """Record a new sandbox as `queued` and hand it to the spawn queue.

        LimitExceeded (429) names the limit when the caller or the host has too many.
        """
        for planner in self._planners():
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
        async with self._create_lock, self.db.session() as session:
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
        self._enqueue(row.id, row.queued_seq or 0)
        self._publish(row, "sandbox.created")
        return await self._view(row)

    def _enqueue(self, sandbox_id: str, seq: int) -> None:
        self.queue.submit(sandbox_id, seq, lambda: self._spawn(sandbox_id))

    async def _spawn(self, sandbox_id: str) -> None:
        live = self._live.setdefault(sandbox_id, _Live())
        async with live.lock:
            row = await self._transition(sandbox_id, Status.CREATING)
            try:
                request = await self._plan(row, fresh=True)
                ctx = await self.pipeline.create(request, on_step=self._step_event(row))
            except StepFailed as failure:
                await self._fail(sandbox_id, failure)
                return
            except asyncio.CancelledError:
                await self._set(
                    sandbox_id,
                    Status.ERROR,
                    error=("interrupted", "the manager stopped during the spawn"),
                )
                raise
            await self._running(sandbox_id, ctx, source_volume=ctx.source_volume)

    def _request(self, row: Sandbox) -> SpawnRequest:
        return SpawnRequest(
            sandbox_id=row.id,
            image=row.image,
            vcpus=row.vcpus,
            memory_mb=row.memory_mb,
            disk_gb=row.disk_gb,
            hostname=f"sandbox-{row.id}",
        )

    def _planners(self) -> list[SpawnPlanner]:
        return [e for e in self.pipeline.extensions if isinstance(e, SpawnPlanner)]

    async def _plan(self, row: Sandbox, *, fresh: bool) -> SpawnRequest:
        request = self._request(row)
        for planner in self._planners():
            try:
                request = await planner.plan(row, request, fresh=fresh)
            except AtelierError as exc:
                raise StepFailed("plan", exc, []) from exc
        return request

    def _step_event(self, row: Sandbox) -> Any:
        audience = _audience(row)

        async def observe(step: str, ctx: SpawnContext) -> None:
            record = ctx.steps[-1]
            self.bus.publish("sandbox.step", {"id": row.id, **record.to_dict()}, audience)

        return observe

    async def _running(
        self, sandbox_id: str, ctx: SpawnContext, source_volume: str | None = None
    ) -> None:
        assert ctx.handle is not None and ctx.client is not None
        handle = ctx.handle
        async with self.db.session() as session:
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
        self._watch(sandbox_id, handle)
        self._publish(row, "sandbox.status")

    async def _fail(self, sandbox_id: str, failure: StepFailed) -> None:
        async with self.db.session() as session:
            row = await repo.get(session, sandbox_id)
            if row is None:
                return
            row.status = Status.ERROR.value
            row.error_step = failure.step
            row.error_message = failure.message
            row.spawn_steps = [s.to_dict() for s in failure.steps]
            row.vm = None
        self._publish(row, "sandbox.status")

    # lifecycle -----------------------------------------------------------------------

    async def stop(self, principal: Principal, sandbox_id: str) -> SandboxView:
        """Power the guest off cleanly; the volume (and its data) stays."""
        row = await self._load(principal, sandbox_id)
        live = self._live.setdefault(sandbox_id, _Live())
        async with live.lock:
            row = await self._transition(sandbox_id, Status.STOPPING)
            await self._shutdown(row, graceful=True)
            row = await self._set(sandbox_id, Status.STOPPED, stopped=True)
        return await self._view(row)

    async def start(self, principal: Principal, sandbox_id: str) -> SandboxView:
        """Boot a stopped (or failed) sandbox again from its volume, with full guest setup."""
        row = await self._load(principal, sandbox_id)
        live = self._live.setdefault(sandbox_id, _Live())
        async with live.lock:
            if row.status == Status.ERROR and not row.volume:
                raise Conflict(
                    f"sandbox {sandbox_id} failed before its volume existed; nothing to start",
                    hint=f"destroy it: atelier sandbox rm {sandbox_id}",
                )
            row = await self._transition(sandbox_id, Status.STARTING)
            try:
                request = await self._plan(row, fresh=False)
                ctx = await self.pipeline.start(request, on_step=self._step_event(row))
            except StepFailed as failure:
                await self._fail(sandbox_id, failure)
                raise
            await self._running(sandbox_id, ctx)
        return await self.get(principal, sandbox_id)

    async def pause(self, principal: Principal, sandbox_id: str) -> SandboxView:
        """Save a running sandbox's memory to disk and free its VM (see `core/pause.py`)."""
        from atelier.core.pause import pause_sandbox

        return await pause_sandbox(self, principal, sandbox_id)

    async def resume(self, principal: Principal, sandbox_id: str) -> SandboxView:
        """Resume a paused sandbox from its saved memory: processes carry on where they were."""
        from atelier.core.pause import resume_sandbox

        return await resume_sandbox(self, principal, sandbox_id)

    async def restart(self, principal: Principal, sandbox_id: str) -> SandboxView:
        """Stop then start."""
        await self.stop(principal, sandbox_id)
        return await self.start(principal, sandbox_id)

    async def destroy(self, principal: Principal, sandbox_id: str) -> None:
        """Remove the sandbox's VM, network, routes and volume; the row stays as `destroyed`."""
        row = await self._load(principal, sandbox_id)
        if row.owner_id != principal.user_id and not principal.is_admin:
            raise Forbidden("only the owner (or an admin) can destroy a sandbox")
        if row.status == Status.QUEUED:
            self.queue.cancel(sandbox_id)
        live = self._live.setdefault(sandbox_id, _Live())
        async with live.lock:
            row = await self._transition(sandbox_id, Status.DESTROYING)
            await self._shutdown(row, graceful=False)
            if row.volume:
                with contextlib.suppress(NotFound):
                    await self.runtime.storage.delete(row.volume, force=True)
            shutil.rmtree(self.pipeline.logs_dir(sandbox_id), ignore_errors=True)
            row = await self._set(sandbox_id, Status.DESTROYED, destroyed=True)
        self._live.pop(sandbox_id, None)
        self._publish(row, "sandbox.destroyed")

    async def _shutdown(self, row: Sandbox, *, graceful: bool) -> None:
        """Stop the VM and release everything but the volume."""
        live = self._live.setdefault(row.id, _Live())
        live.expected_exit = True
        handle = handle_from_json(row.vm) if row.vm else None
        for extension in reversed(self.pipeline.extensions):
            try:
                await extension.on_stopped(row.id)
            except Exception:
                log.exception("extension %s failed on stop of %s", extension.name, row.id)
        if handle is not None:
            keep_console(handle, self.pipeline.logs_dir(row.id))
            if graceful and self.agents.known(row.id):
                with contextlib.suppress(AtelierError, OSError):
                    client = await self.agents.get(row.id)
                    await asyncio.wait_for(client.poweroff(), 10)
            await self.agents.forget(row.id)
            await self.runtime.vmm.stop(handle, timeout=30 if graceful else 0.5)
        else:
            await self.agents.forget(row.id)
        if live.watcher is not None:
            live.watcher.cancel()
            live.watcher = None
        if self.runtime.network is not None:
            await self.runtime.network.release(row.id)
        live.expected_exit = False

    async def _transition(self, sandbox_id: str, target: Status) -> Sandbox:
        async with self.db.session() as session:
            row = await repo.get(session, sandbox_id)
            if row is None:
                raise NotFound(f"no sandbox {sandbox_id!r}", field="id")
            check_transition(sandbox_id, Status(row.status), target)
            row.status = target.value
        self._publish(row, "sandbox.status")
        return row

    async def _set(
        self,
        sandbox_id: str,
        status: Status,
        *,
        error: tuple[str, str] | None = None,
        stopped: bool = False,
        destroyed: bool = False,
    ) -> Sandbox:
        async with self.db.session() as session:
            row = await repo.get(session, sandbox_id)
            assert row is not None
            row.status = status.value
            if error is not None:
                row.error_step, row.error_message = error
            if stopped or destroyed or status == Status.ERROR:
                row.vm = None
                row.agent_token = None
            if stopped:
                row.stopped_at = utcnow()
            if destroyed:
                row.volume = None
        self._publish(row, "sandbox.status")
        return row

    # watching ------------------------------------------------------------------------

    def _watch(self, sandbox_id: str, handle: VmHandle) -> None:
        live = self._live.setdefault(sandbox_id, _Live())
        live.handle = handle
        if live.watcher is not None:
            live.watcher.cancel()
        live.watcher = asyncio.create_task(
            self._await_death(sandbox_id, handle), name=f"watch-{sandbox_id}"
        )

    async def _await_death(self, sandbox_id: str, handle: VmHandle) -> None:
        while not await proc.wait_for_exit(handle.pid, 3600):
            pass
        live = self._live.get(sandbox_id)
        if live is None or live.expected_exit or self._closing:
            return
        async with live.lock:
            async with self.db.session() as session:
                row = await repo.get(session, sandbox_id)
            if row is None or row.status not in (Status.RUNNING, Status.PAUSED):
                return
            log.warning("sandbox %s: VM process %d exited unexpectedly", sandbox_id, handle.pid)
            live.watcher = None
            tail = _console_tail(handle)
            live.expected_exit = True
            try:
                await self._shutdown(row, graceful=False)
            finally:
                live.expected_exit = False
            await self._set(
                sandbox_id,
                Status.ERROR,
                error=(
                    "vm",
                    "the VM process exited unexpectedly" + (f"; console: {tail}" if tail else ""),
                ),
            )

    # guest access --------------------------------------------------------------------

    @property
    def terminal_user(self) -> str | None:
        """Who terminals run as: `dev` in real guests; the agent's own user in mock mode."""
        return None if self.runtime.vmm.name == "mock" else "dev"

    async def guest(self, principal: Principal, sandbox_id: str) -> AgentClient:
        """The running sandbox's agent client (409 unless running)."""
        row = await self._load(principal, sandbox_id)
        if row.status != Status.RUNNING:
            raise Conflict(
                f"sandbox {sandbox_id} is {row.status}, not running",
                hint=f"start it with `atelier sandbox start {sandbox_id}`"
                if row.status == Status.STOPPED
                else None,
                code="sandbox_not_running",
            )
        if not self.agents.known(sandbox_id):
            self._register_agent(row)
        await self._touch(sandbox_id)
        return await self.agents.get(sandbox_id)

    def _register_agent(self, row: Sandbox) -> None:
        assert row.vm is not None and row.agent_token is not None
        handle = handle_from_json(row.vm)
        self.agents.register(row.id, handle.agent, self.secrets.decrypt(row.agent_token))

    async def _touch(self, sandbox_id: str) -> None:
        async with self.db.session() as session:
            row = await repo.get(session, sandbox_id)
            if row is not None:
                row.last_activity_at = utcnow()

    async def console_log(
        self, principal: Principal, sandbox_id: str, tail: int = 200
    ) -> list[str]:
        """The last lines of the VM's serial console: the running boot, else the last one."""
        row = await self._load(principal, sandbox_id)
        path = (
            handle_from_json(row.vm).console_log
            if row.vm
            else self.pipeline.logs_dir(sandbox_id) / "console.log"
        )
        with contextlib.suppress(OSError):
            return path.read_text(errors="replace").splitlines()[-tail:]
        return []

    async def follow_console(self, principal: Principal, sandbox_id: str) -> AsyncIterator[str]:
        """New console lines as they are written, until the VM stops."""
        row = await self._load(principal, sandbox_id)
        if not row.vm:
            return
        path = handle_from_json(row.vm).console_log
        position = path.stat().st_size if path.exists() else 0
        buffer = ""
        while True:
            try:
                with path.open("rb") as fh:
                    fh.seek(position)
                    chunk = fh.read()
            except FileNotFoundError:
                return
            if chunk:
                position += len(chunk)
                buffer += chunk.decode("utf-8", "replace")
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    yield line
            else:
                await asyncio.sleep(0.25)

    # members -------------------------------------------------------------------------

    async def add_member(self, principal: Principal, sandbox_id: str, username: str) -> SandboxView:
        """Let another user see and use the sandbox (owner or admin only)."""
        row = await self._owned(principal, sandbox_id)
        async with self.db.session() as session:
            user = await user_repo.by_username(session, username) or await user_repo.get(
                session, username
            )
            if user is None:
                raise NotFound(f"no user {username!r}", field="username")
            if user.id == row.owner_id:
                raise Conflict(f"{user.username} owns sandbox {sandbox_id}", field="username")
            current = await repo.get(session, sandbox_id)
            assert current is not None
            if all(m.user_id != user.id for m in current.members):
                current.members.append(SandboxMember(user_id=user.id))
        row = await self._load(principal, sandbox_id)
        self._publish(row, "sandbox.members")
        return await self._view(row)

    async def remove_member(
        self, principal: Principal, sandbox_id: str, username: str
    ) -> SandboxView:
        """Take a member's access away (owner or admin only)."""
        await self._owned(principal, sandbox_id)
        async with self.db.session() as session:
            user = await user_repo.by_username(session, username) or await user_repo.get(
                session, username
            )
            current = await repo.get(session, sandbox_id)
            assert current is not None
            if user is None or all(m.user_id != user.id for m in current.members):
                raise NotFound(
                    f"{username!r} is not a member of sandbox {sandbox_id}", field="username"
                )
            current.members = [m for m in current.members if m.user_id != user.id]
        row = await self._load(principal, sandbox_id)
        self._publish(row, "sandbox.members")
        return await self._view(row)

    async def _owned(self, principal: Principal, sandbox_id: str) -> Sandbox:
        row = await self._load(principal, sandbox_id)
        if row.owner_id != principal.user_id and not principal.is_admin:
            raise Forbidden("only the owner (or an admin) can change members")
        return row

    # internal lookups for other subsystems (proxy, ssh) --------------------------------

    async def lookup(self, sandbox_id: str) -> Sandbox | None:
        """A sandbox row without access checks (for subsystems that check themselves)."""
        async with self.db.session() as session:
            return await repo.get(session, sandbox_id)

    async def by_name(self, name: str) -> Sandbox | None:
        """The live sandbox with this name, when exactly one has it (no access checks)."""
        async with self.db.session() as session:
            rows = await repo.named(session, name)
        return rows[0] if len(rows) == 1 else None

    async def running_rows(self) -> list[Sandbox]:
        """Every running sandbox (for route and gateway reconciliation)."""
        async with self.db.session() as session:
            return await repo.with_status(session, [Status.RUNNING.value])

    # a full storage pool -------------------------------------------------------------

    async def watch_pool(self, interval: float) -> None:
        """Follow the pool's level; while it is low or full, find guests paused on ENOSPC.

        A sandbox volume's VMM pauses the guest when a write hits a full pool (QEMU
        `werror=enospc`) rather than failing it inside the guest filesystem. Such
        sandboxes are shown as `paused` with the reason, and resumed once there is room.
        """
        watcher = PoolWatcher(self.runtime.storage, self._pool_event, interval=interval)
        while True:
            await watcher.check()
            if watcher.level != "ok":
                await self._sweep_paused_by_pool()
            await asyncio.sleep(interval)

    async def _pool_event(self, event: PoolEvent) -> None:
        # Empty audience: the pool is the host's business, so only admins see this.
        self.bus.publish(
            "storage.pool",
            {"level": event.level, "previous": event.previous, "message": event.message,
             "free": event.usage.free, "total": event.usage.total},
            audience=set(),
        )  # fmt: skip
        if event.level == "ok":
            await self._resume_paused_by_pool()

    async def _sweep_paused_by_pool(self) -> None:
        for row in await self.running_rows():
            if not row.vm:
                continue
            if await self.runtime.vmm.status(handle_from_json(row.vm)) == VmState.PAUSED:
                log.warning("sandbox %s was paused by its VMM: the storage pool is full", row.id)
                async with self.db.session() as session:
                    current = await repo.get(session, row.id)
                    if current is None or current.status != Status.RUNNING:
                        continue
                    current.status = Status.PAUSED.value
                    current.error_step = POOL_FULL
                    current.error_message = (
                        "paused: the storage pool is full; it resumes once space is freed"
                    )
                self._publish(current, "sandbox.status")

    async def _resume_paused_by_pool(self) -> None:
        async with self.db.session() as session:
            rows = await repo.with_status(session, [Status.PAUSED.value])
        for row in rows:
            if row.error_step != POOL_FULL or not row.vm:
                continue
            await self.runtime.vmm.resume(handle_from_json(row.vm))
            async with self.db.session() as session:
                current = await repo.get(session, row.id)
                if current is not None and current.status == Status.PAUSED:
                    current.status = Status.RUNNING.value
                    current.error_step = current.error_message = None
            if current is not None:
                self._publish(current, "sandbox.status")

    # idle auto-stop ------------------------------------------------------------------

    async def stop_idle(self) -> list[str]:
        """Stop running sandboxes idle longer than `limits.idle_stop_minutes`; their ids.

        Activity is any use through the manager (exec, files, terminal, SSH, proxied
        requests record it); a sandbox nobody touched since it started counts from then.
        """
        minutes = self.config.limits.idle_stop_minutes
        if minutes is None:
            return []
        cutoff = utcnow() - timedelta(minutes=minutes)
        stopped = []
        for row in await self.running_rows():
            last = row.last_activity_at or row.started_at or row.created_at
            if last >= cutoff:
                continue
            log.info("sandbox %s idle since %s: stopping it", row.id, last.isoformat())
            system = Principal(row.owner_id, "idle-stop", "admin")
            try:
                await self.stop(system, row.id)
                stopped.append(row.id)
            except AtelierError as exc:
                log.warning("idle stop of %s failed: %s", row.id, exc.message)
        return stopped

    async def watch_idle(self, interval: float = 60.0) -> None:
        """Run `stop_idle` forever (a manager background task)."""
        while True:
            await asyncio.sleep(interval)
            await self.stop_idle()

    async def record_activity(self, sandbox_id: str) -> None:
        """Note that somebody used the sandbox (for idle auto-stop)."""
        await self._touch(sandbox_id)

    # events --------------------------------------------------------------------------

    def _publish(self, row: Sandbox, kind: str) -> None:
        self.bus.publish(
            kind,
            {
                "id": row.id,
                "status": row.status,
                "error": row.error_message,
                "step": row.error_step,
            },
            _audience(row),
        )

    async def close(self) -> None:
        """Stop watchers and queue workers and close agent connections; VMs keep running."""
        self._closing = True
        await self.queue.drain()
        for live in self._live.values():
            if live.watcher is not None:
                live.watcher.cancel()
        await self.agents.close_all()


def _can_see(principal: Principal, row: Sandbox) -> bool:
    return (
        principal.is_admin
        or row.owner_id == principal.user_id
        or any(m.user_id == principal.user_id for m in row.members)
    )


def _audience(row: Sandbox) -> set[str]:
    return {row.owner_id, *(m.user_id for m in row.members)}


def _bound(field_name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValidationError(
            f"{field_name} {value} is out of range: allowed {low}..{high}",
            field=field_name,
        )


def handle_to_json(handle: VmHandle) -> dict[str, Any]:
    return {
        "name": handle.name,
        "driver": handle.driver,
        "pid": handle.pid,
        "run_dir": str(handle.run_dir),
        "agent": handle.agent.to_dict(),
        "console_log": str(handle.console_log),
        "started_at": handle.started_at,
        "extra": dict(handle.extra),
    }


def handle_from_json(data: dict[str, Any]) -> VmHandle:
    from pathlib import Path

    return VmHandle(
        name=data["name"],
        driver=data["driver"],
        pid=int(data["pid"]),
        run_dir=Path(data["run_dir"]),
        agent=AgentEndpoint.from_dict(data["agent"]),
        console_log=Path(data["console_log"]),
        started_at=float(data.get("started_at", 0.0)),
        extra=dict(data.get("extra", {})),
    )


def _console_tail(handle: VmHandle, lines: int = 3) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(
            handle.console_log.read_text(errors="replace").strip().splitlines()[-lines:]
        )
    return ""
