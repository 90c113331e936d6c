"""Sandboxes: the one service interfaces and other subsystems use, composed of its parts.

`SandboxService` owns the shared state (spawn pipeline, queue, agent pool), answers reads
itself, and hands every other call to the part whose job it is: access and status changes
(`sandbox_records`), views (`sandbox_views`), admission (`sandbox_create`), spawning
(`sandbox_spawn`), lifecycle actions (`sandbox_actions`), live VMs (`sandbox_vms`), guest
use (`sandbox_guest`), members (`sandbox_members`), the storage pool (`sandbox_pool`) and
idle stop (`sandbox_idle`). Creation returns at once with the sandbox `queued`; the spawn
queue admits it when a slot frees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from atelier.config import AtelierConfig
from atelier.core.auth import Principal
from atelier.core.events import EventBus
from atelier.core.guests import AgentPool
from atelier.core.lifecycle import Status
from atelier.core.queue import SpawnQueue
from atelier.core.runtime import Runtime
from atelier.core.sandbox_actions import SandboxActions
from atelier.core.sandbox_create import CreateRequest, SandboxCreator, SpawnPlanner
from atelier.core.sandbox_guest import GuestAccess
from atelier.core.sandbox_handles import handle_from_json, handle_to_json
from atelier.core.sandbox_idle import IdleStop
from atelier.core.sandbox_members import SandboxMembers
from atelier.core.sandbox_pool import POOL_FULL, PoolPauses
from atelier.core.sandbox_records import SandboxRecords
from atelier.core.sandbox_spawn import SandboxSpawner
from atelier.core.sandbox_views import SandboxView, SandboxViews
from atelier.core.sandbox_vms import SandboxVms
from atelier.core.secrets import SecretBox
from atelier.core.spawn import SpawnPipeline
from atelier.db import Database
from atelier.db.models import Sandbox
from atelier.db.repos import sandboxes as repo
from atelier.errors import ValidationError
from atelier.runtime.agent.client import AgentClient

__all__ = [
    "POOL_FULL",
    "CreateRequest",
    "SandboxService",
    "SandboxView",
    "SpawnPlanner",
    "handle_from_json",
    "handle_to_json",
]


class SandboxService:
    """The lifecycle of sandboxes and access to running guests.

    Every method taking a `Principal` checks access first: owners, members and admins see
    a sandbox; anybody else gets 404. Illegal transitions are 409.
    """

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
        self.records = SandboxRecords(db, bus)
        self.views = SandboxViews(db, runtime, self.queue)
        self.vms = SandboxVms(self.records, runtime, self.pipeline, self.agents)
        self.creator = SandboxCreator(config, db, runtime, self.pipeline, self.queue)
        self.spawner = SandboxSpawner(
            self.records, self.vms, self.pipeline, self.queue, self.agents, secrets_box
        )
        self.actions = SandboxActions(
            self.records, self.views, self.vms, self.spawner, runtime, self.queue
        )
        self.guest_access = GuestAccess(
            self.records, self.agents, secrets_box, runtime, self.pipeline
        )
        self.members = SandboxMembers(self.records, self.views)
        self.pool_pauses = PoolPauses(self.records, runtime)
        self.idle_stop = IdleStop(config, self.records, self.actions)

    # reading -------------------------------------------------------------------------

    async def get(self, principal: Principal, sandbox_id: str) -> SandboxView:
        """One sandbox the caller may see."""
        return await self.views.view(await self.records.load(principal, sandbox_id))

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
        return [await self.views.view(row) for row in rows]

    # lifecycle -----------------------------------------------------------------------

    async def create(self, principal: Principal, request: CreateRequest) -> SandboxView:
        """Record a new sandbox as `queued` and hand it to the spawn queue.

        LimitExceeded (429) names the limit when the caller or the host has too many.
        """
        row = await self.creator.create(principal, request)
        self.spawner.enqueue(row.id, row.queued_seq or 0)
        self.records.publish(row, "sandbox.created")
        return await self.views.view(row)

    async def stop(self, principal: Principal, sandbox_id: str) -> SandboxView:
        """Power the guest off cleanly; the volume (and its data) stays."""
        return await self.actions.stop(principal, sandbox_id)

    async def start(self, principal: Principal, sandbox_id: str) -> SandboxView:
        """Boot a stopped (or failed) sandbox again from its volume, with full guest setup."""
        return await self.actions.start(principal, sandbox_id)

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
        return await self.actions.restart(principal, sandbox_id)

    async def destroy(self, principal: Principal, sandbox_id: str) -> None:
        """Remove the sandbox's VM, network, routes and volume; the row stays as `destroyed`."""
        await self.actions.destroy(principal, sandbox_id)

    # guest access --------------------------------------------------------------------

    @property
    def terminal_user(self) -> str | None:
        """Who terminals run as: `dev` in real guests; the agent's own user in mock mode."""
        return self.guest_access.terminal_user

    async def guest(self, principal: Principal, sandbox_id: str) -> AgentClient:
        """The running sandbox's agent client (409 unless running)."""
        return await self.guest_access.guest(principal, sandbox_id)

    async def console_log(
        self, principal: Principal, sandbox_id: str, tail: int = 200
    ) -> list[str]:
        """The last lines of the VM's serial console: the running boot, else the last one."""
        return await self.guest_access.console_log(principal, sandbox_id, tail)

    def follow_console(self, principal: Principal, sandbox_id: str) -> AsyncIterator[str]:
        """New console lines as they are written, until the VM stops."""
        return self.guest_access.follow_console(principal, sandbox_id)

    async def record_activity(self, sandbox_id: str) -> None:
        """Note that somebody used the sandbox (for idle auto-stop)."""
        await self.records.touch(sandbox_id)

    # members -------------------------------------------------------------------------

    async def add_member(self, principal: Principal, sandbox_id: str, username: str) -> SandboxView:
        """Let another user see and use the sandbox (owner or admin only)."""
        return await self.members.add(principal, sandbox_id, username)

    async def remove_member(
        self, principal: Principal, sandbox_id: str, username: str
    ) -> SandboxView:
        """Take a member's access away (owner or admin only)."""
        return await self.members.remove(principal, sandbox_id, username)

    # internal lookups for other subsystems (proxy, ssh) --------------------------------

    async def lookup(self, sandbox_id: str) -> Sandbox | None:
        """A sandbox row without access checks (for subsystems that check themselves)."""
        return await self.records.lookup(sandbox_id)

    async def by_name(self, name: str) -> Sandbox | None:
        """The live sandbox with this name, when exactly one has it (no access checks)."""
        return await self.records.by_name(name)

    async def running_rows(self) -> list[Sandbox]:
        """Every running sandbox (for route and gateway reconciliation)."""
        return await self.records.running_rows()

    # background tasks ----------------------------------------------------------------

    async def watch_pool(self, interval: float) -> None:
        """Follow the pool's level; while it is low or full, find guests paused on ENOSPC."""
        await self.pool_pauses.watch(interval)

    async def stop_idle(self) -> list[str]:
        """Stop running sandboxes idle longer than `limits.idle_stop_minutes`; their ids."""
        return await self.idle_stop.stop_idle()

    async def watch_idle(self, interval: float = 60.0) -> None:
        """Run `stop_idle` forever (a manager background task)."""
        await self.idle_stop.watch(interval)

    async def close(self) -> None:
        """Stop watchers and queue workers and close agent connections; VMs keep running."""
        self.vms.closing = True
        await self.queue.drain()
        self.vms.cancel_watchers()
        await self.agents.close_all()
