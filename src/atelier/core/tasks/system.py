"""Wiring AI tasks into a manager: `install_tasks(manager)` builds and registers everything.

It adds the `opencode` spawn step (config files and shared credentials written, password
handed over, OpenCode started, then awaited in the background), a start hook that resumes
monitors, auth watches, start pipelines and the queue after a restart, a bus consumer that
reacts to sandboxes stopping, dying or changing members, and a health probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import weakref
from dataclasses import dataclass

import httpx

from atelier.core.attention import AttentionService
from atelier.core.authsync import AuthSync
from atelier.core.events import Event
from atelier.core.lifecycle import Status
from atelier.core.manager import Check, Manager
from atelier.core.opencode_config import OpencodeConfigService
from atelier.core.rollback import Rollback
from atelier.core.spawn import SpawnContext
from atelier.core.tasks.catalog import TemplateCatalog
from atelier.core.tasks.guest import (
    ClientFactory,
    GuestServiceLauncher,
    OpencodeAccess,
    OpencodeLauncher,
)
from atelier.core.tasks.launch import SessionLauncher
from atelier.core.tasks.monitor import MonitorHub
from atelier.core.tasks.runner import TaskRunner
from atelier.core.tasks.service import TaskService
from atelier.core.tasks.states import TaskStatus
from atelier.core.tasks.store import TaskStore
from atelier.core.tasks.tracker import TaskTracker
from atelier.core.tasks.workspaces import NoWorkspaces, WorkspaceLookup
from atelier.core.webhooks import WebhookSender
from atelier.db.models import SandboxOpencode
from atelier.db.repos import opencode as oc_repo
from atelier.db.repos import tasks as task_repo
from atelier.errors import AtelierError, Unavailable

log = logging.getLogger(__name__)
GONE = {Status.ERROR.value, Status.STOPPED.value, Status.DESTROYED.value}


@dataclass
class TaskSystem:
    """Every part of AI task dispatch, for the API, the CLI server and the dashboard."""

    manager: Manager
    access: OpencodeAccess
    workspaces: WorkspaceLookup
    webhooks: WebhookSender
    catalog: TemplateCatalog
    configs: OpencodeConfigService
    authsync: AuthSync
    attention: AttentionService
    store: TaskStore
    runner: TaskRunner
    tracker: TaskTracker
    hub: MonitorHub
    tasks: TaskService

    # the spawn step ----------------------------------------------------------------

    name = "opencode"

    async def on_running(self, ctx: SpawnContext, rollback: Rollback) -> None:
        sandbox_id = ctx.request.sandbox_id
        agent = ctx.client
        assert agent is not None
        try:
            row = await self.manager.sandboxes.lookup(sandbox_id)
            workspace_id = row.workspace_id if row is not None else None
            await self.configs.write_to(sandbox_id, agent, workspace_id)
            await self.authsync.seed(sandbox_id, agent)
            password = secrets.token_urlsafe(24)
            await self._save(sandbox_id, "starting", password=password)
            if not await self.access.launcher.start(sandbox_id, agent, password):
                await self._save(sandbox_id, "absent")
                self.manager.background.spawn(
                    f"authsync-attach-{sandbox_id}", lambda: self._attach_when_running(sandbox_id)
                )
                return
        except AtelierError as exc:
            log.warning("sandbox %s: OpenCode setup failed: %s", sandbox_id, exc.message)
            await self._save(sandbox_id, "failed", detail=exc.message)
            return
        self._await_later(sandbox_id)

    def _await_later(self, sandbox_id: str) -> None:
        self.manager.background.spawn(
            f"opencode-ready-{sandbox_id}", lambda: self._await_ready(sandbox_id)
        )

    async def _attach_when_running(self, sandbox_id: str) -> None:
        for _ in range(int(self.access.config.ready_timeout_s * 2)):
            row = await self.manager.sandboxes.lookup(sandbox_id)
            if row is None or row.status in GONE:
                return
            if row.status == Status.RUNNING:
                await self.authsync.attach(sandbox_id)
                return
            await asyncio.sleep(0.5)

    async def on_stopped(self, sandbox_id: str) -> None:
        await self.hub.unwatch(sandbox_id)
        await self.authsync.detach(sandbox_id)
        await self.access.launcher.stop(sandbox_id)
        async with self.manager.db.session() as session:
            await oc_repo.drop_server(session, sandbox_id)

    async def _save(
        self, sandbox_id: str, state: str, *, password: str | None = None, detail: str | None = None
    ) -> None:
        async with self.manager.db.session() as session:
            row = await oc_repo.server(session, sandbox_id)
            if row is None:
                row = SandboxOpencode(sandbox_id=sandbox_id, password="")
                session.add(row)
            if password is not None:
                row.password = self.manager.secrets.encrypt(password)
            row.state, row.detail = state, detail
        await self.access.forget(sandbox_id)
        self.manager.bus.publish("sandbox.opencode", {"id": sandbox_id, "state": state})

    async def _await_ready(self, sandbox_id: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.access.config.ready_timeout_s
        while True:
            row = await self.manager.sandboxes.lookup(sandbox_id)
            if row is None or row.status in GONE:
                return
            if row.status == Status.RUNNING:
                try:
                    health = await (await self.access.client(sandbox_id)).health()
                    if health.healthy:
                        break
                except AtelierError:
                    pass
            if loop.time() > deadline:
                await self._save(sandbox_id, "failed", detail="no answer before the deadline")
                return
            await asyncio.sleep(0.5)
        async with self.manager.db.session() as session:
            found = await oc_repo.server(session, sandbox_id)
            if found is not None:
                found.state, found.version = "ready", health.version
        self.manager.bus.publish("sandbox.opencode", {"id": sandbox_id, "state": "ready"})
        await self.hub.watch(sandbox_id)
        await self.authsync.attach(sandbox_id)

    # start, stop, events ------------------------------------------------------------

    async def start(self) -> None:
        await self.webhooks.start()
        await self.attention.restore()
        running = {r.id for r in await self.manager.sandboxes.running_rows()}
        async with self.manager.db.session() as session:
            servers = await oc_repo.servers(session)
        for server in servers:
            if server.sandbox_id not in running:
                continue
            if server.state == "ready":
                await self.hub.watch(server.sandbox_id)
            elif server.state == "starting":
                self._await_later(server.sandbox_id)
            await self.authsync.attach(server.sandbox_id)
        await self._fail_orphans(running)
        await self.runner.start()
        self.manager.background.spawn("tasks-sandbox-events", self._follow_bus)

    async def stop(self) -> None:
        await self.runner.close()
        await self.hub.close()
        await self.authsync.close()
        await self.access.aclose()
        await self.webhooks.stop()

    async def _fail_orphans(self, running: set[str]) -> None:
        """Running tasks whose sandbox died while the manager was away."""
        async with self.manager.db.session() as session:
            live = await task_repo.with_status(session, [TaskStatus.RUNNING.value])
        for task in live:
            if task.sandbox_id not in running:
                await self._sandbox_gone(task.sandbox_id or "", "is not running")

    async def _follow_bus(self) -> None:
        subscription = self.manager.bus.subscribe()
        try:
            while True:
                event = await subscription.get()
                try:
                    await self._on_bus(event)
                except AtelierError as exc:
                    log.warning("tasks: handling %s failed: %s", event.type, exc.message)
        finally:
            subscription.close()

    async def _on_bus(self, event: Event) -> None:
        sandbox_id = event.data.get("id")
        if not isinstance(sandbox_id, str):
            return
        if event.type == "sandbox.members":
            await self.authsync.recheck(sandbox_id)
        elif (event.type == "sandbox.status" and event.data.get("status") in GONE) or (
            event.type == "sandbox.destroyed"
        ):
            status = event.data.get("status", "destroyed")
            reason = event.data.get("error")
            await self._sandbox_gone(sandbox_id, f"is {status}" + (f": {reason}" if reason else ""))

    async def _sandbox_gone(self, sandbox_id: str, why: str) -> None:
        async with self.manager.db.session() as session:
            tasks = await task_repo.of_sandbox(session, sandbox_id, [TaskStatus.RUNNING.value])
        for task in tasks:
            with contextlib.suppress(AtelierError):
                await self.store.move(
                    task.id,
                    TaskStatus.FAILED,
                    expect={TaskStatus.RUNNING},
                    error=f"sandbox {sandbox_id} {why}",
                )
        if tasks:
            await self.runner.admit()

    async def probe(self) -> Check:
        monitors = self.hub.monitors.values()
        connected = sum(1 for m in monitors if m.follower.state.connected)
        detail = f"{connected}/{len(self.hub.monitors)} OpenCode streams connected"
        if self.webhooks.enabled:
            stats = self.webhooks.stats
            detail += f"; webhook: {stats.sent} sent, {stats.failed} failed"
        return Check("tasks", True, detail)


def install_tasks(
    manager: Manager,
    *,
    workspaces: WorkspaceLookup | None = None,
    launcher: OpencodeLauncher | None = None,
    client_factory: ClientFactory | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> TaskSystem:
    """Build AI task dispatch for `manager` and register it (call before `start()`)."""
    config = manager.config.opencode
    lookup = workspaces or NoWorkspaces()
    access = OpencodeAccess(
        manager, config, launcher or GuestServiceLauncher(manager, config), client_factory
    )
    webhooks = WebhookSender(config, webhook_transport)
    store = TaskStore(manager.db, manager.bus, webhooks)
    catalog = TemplateCatalog(manager.db, lookup, manager.bus)
    launch = SessionLauncher(store, access, catalog, lookup)
    tracker = TaskTracker(store, access, launch)
    attention = AttentionService(access, webhooks, tracker.task_of)
    hub = MonitorHub(access, attention, tracker.on_snapshot)
    runner = TaskRunner(store, access, launch, lookup)
    system = TaskSystem(
        manager=manager,
        access=access,
        workspaces=lookup,
        webhooks=webhooks,
        catalog=catalog,
        configs=OpencodeConfigService(access, lookup),
        authsync=AuthSync(access),
        attention=attention,
        store=store,
        runner=runner,
        tracker=tracker,
        hub=hub,
        tasks=TaskService(store, runner, catalog, lookup, access),
    )
    manager.extensions.append(system)
    manager.on_start(system.start)
    manager.on_stop(system.stop)
    manager.add_probe("tasks", system.probe)
    _SYSTEMS[manager] = system
    return system


_SYSTEMS: weakref.WeakKeyDictionary[Manager, TaskSystem] = weakref.WeakKeyDictionary()


def tasks_of(manager: Manager) -> TaskSystem:
    """The task system installed on a manager (Unavailable when there is none)."""
    system = _SYSTEMS.get(manager)
    if system is None:
        raise Unavailable(
            "AI tasks are not installed on this manager",
            hint="run the manager with `atelier serve`",
        )
    return system
