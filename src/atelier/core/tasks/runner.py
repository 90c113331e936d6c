"""Starting tasks: the per-workspace queue and the start pipeline.

Admission: queued tasks start in queue order while their workspace (or, without one,
their owner) has fewer than its limit of active (`starting` or `running`) tasks; every
time a task leaves those statuses the queue is looked at again.

The pipeline of a starting task, each step recorded before the next so a restarted
manager resumes it: create the sandbox (the workspace subsystem clones its repos or
restores its prebuild) → wait until it runs → wait until its OpenCode is ready → cut the
task branch in each target repository (a scratch repository without one) → start the
sessions due now → `running`. Any failure moves the task to `failed` with the reason; the
sandbox is kept for inspection.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import posixpath

from atelier.core.auth import Principal
from atelier.core.lifecycle import Status
from atelier.core.sandboxes import CreateRequest
from atelier.core.tasks import git
from atelier.core.tasks.guest import OpencodeAccess
from atelier.core.tasks.launch import SessionLauncher
from atelier.core.tasks.states import ACTIVE, TaskStatus
from atelier.core.tasks.store import TaskStore
from atelier.core.tasks.workspaces import TaskWorkspace, WorkspaceLookup
from atelier.db.models import Task
from atelier.db.repos import opencode as oc_repo
from atelier.db.repos import tasks as repo
from atelier.errors import AtelierError

log = logging.getLogger(__name__)
S = TaskStatus


class TaskFailed(AtelierError):
    """A task could not start or go on; the message is the reason it shows."""

    code = "task_failed"
    status = 409


class TaskRunner:
    """Admits queued tasks and runs their start pipelines in the background."""

    def __init__(
        self,
        store: TaskStore,
        access: OpencodeAccess,
        launcher: SessionLauncher,
        workspaces: WorkspaceLookup,
    ) -> None:
        self._store = store
        self._access = access
        self._manager = access.manager
        self._config = access.config
        self.launcher = launcher
        self._workspaces = workspaces
        self._running: dict[str, asyncio.Task[None]] = {}
        self._admit_lock = asyncio.Lock()
        self._seq = itertools.count(1)
        self._closing = False

    async def start(self) -> None:
        """Resume what a previous manager left: starting pipelines, then the queue."""
        async with self._store.db.session() as session:
            self._seq = itertools.count(await repo.max_queued_seq(session) + 1)
            starting = await repo.with_status(session, [S.STARTING.value])
        for task in starting:
            self._spawn(task.id)
        await self.admit()

    async def close(self) -> None:
        self._closing = True
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)

    # queue --------------------------------------------------------------------------

    async def enqueue(self, task_id: str) -> Task:
        """draft/failed → queued, then admit what fits."""
        row = await self._store.move(
            task_id, S.QUEUED, expect={S.DRAFT, S.FAILED}, queued_seq=next(self._seq)
        )
        if row is None:
            row = await self._store.load(task_id)
        await self.admit()
        return await self._store.load(task_id)

    async def admit(self) -> None:
        """Start queued tasks while their workspace is under its limit."""
        async with self._admit_lock:
            async with self._store.db.session() as session:
                queued = await repo.with_status(session, [S.QUEUED.value])
                active = await repo.with_status(session, [s.value for s in ACTIVE])
            counts: dict[str, int] = {}
            for task in active:
                counts[_key(task)] = counts.get(_key(task), 0) + 1
            for task in queued:
                key = _key(task)
                if counts.get(key, 0) >= await self._limit(task):
                    continue
                moved = await self._store.move(task.id, S.STARTING, expect={S.QUEUED})
                if moved is not None:
                    counts[key] = counts.get(key, 0) + 1
                    self._spawn(task.id)

    async def _limit(self, task: Task) -> int:
        if task.workspace_id:
            workspace = await self._workspaces.find(task.workspace_id)
            if workspace is not None and workspace.max_active_tasks:
                return workspace.max_active_tasks
        return self._config.max_active_tasks

    async def positions(self) -> dict[str, int]:
        """Queue positions (1 = next) of queued tasks, per workspace."""
        async with self._store.db.session() as session:
            queued = await repo.with_status(session, [S.QUEUED.value])
        seen: dict[str, int] = {}
        found = {}
        for task in queued:
            seen[_key(task)] = seen.get(_key(task), 0) + 1
            found[task.id] = seen[_key(task)]
        return found

    # pipeline -----------------------------------------------------------------------

    def _spawn(self, task_id: str) -> None:
        if task_id in self._running:
            return
        job = asyncio.create_task(self._run(task_id), name=f"task-start-{task_id}")
        self._running[task_id] = job
        job.add_done_callback(lambda _job: self._finished(task_id))

    def _finished(self, task_id: str) -> None:
        self._running.pop(task_id, None)
        if not self._closing:
            self._manager.background.spawn("task-admission", self._admit_quietly)

    async def _admit_quietly(self) -> None:
        try:
            await self.admit()
        except Exception:
            log.exception("task admission failed")

    async def cancel_start(self, task_id: str) -> None:
        """Stop a pipeline that is running (the task is being cancelled)."""
        job = self._running.get(task_id)
        if job is not None:
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)

    async def _run(self, task_id: str) -> None:
        try:
            await self._pipeline(task_id)
        except asyncio.CancelledError:
            raise
        except AtelierError as exc:
            log.warning("task %s failed: %s", task_id, exc.message)
            await self._fail(task_id, exc.message)
        except Exception as exc:
            log.exception("task %s: start pipeline crashed", task_id)
            await self._fail(task_id, f"internal error: {type(exc).__name__}: {exc}")

    async def _fail(self, task_id: str, reason: str) -> None:
        try:
            await self._store.move(task_id, S.FAILED, expect={S.STARTING}, error=reason)
        except AtelierError:
            log.exception("task %s: could not record its failure", task_id)

    async def _pipeline(self, task_id: str) -> None:
        task = await self._store.load(task_id)
        workspace = await self._workspaces.find(task.workspace_id) if task.workspace_id else None
        if task.workspace_id and workspace is None:
            raise TaskFailed(f"workspace {task.workspace_id} no longer exists")
        if task.sandbox_id is None:
            sandbox_id = await self._create_sandbox(task, workspace)
            task = await self._store.update(task_id, sandbox_id=sandbox_id)
        assert task.sandbox_id is not None
        await self._wait_running(task.sandbox_id)
        await self._wait_opencode(task.sandbox_id)
        if task.branch is None:
            task = await self._branch(task, workspace)
        await self.launcher.launch(task_id)
        await self._store.move(task_id, S.RUNNING, expect={S.STARTING})

    async def _create_sandbox(self, task: Task, workspace: TaskWorkspace | None) -> str:
        user = await self._manager.auth.get_user(task.owner_id)
        owner = Principal(user.id, user.username, user.role)
        request = CreateRequest(
            image=workspace.image if workspace else None,
            workspace_id=task.workspace_id,
            name=f"task-{task.id}",
            vcpus=workspace.vcpus if workspace else None,
            memory_mb=workspace.memory_mb if workspace else None,
            disk_gb=workspace.disk_gb if workspace else None,
        )
        try:
            view = await self._manager.sandboxes.create(owner, request)
        except AtelierError as exc:
            raise TaskFailed(f"the sandbox could not be created: {exc.message}") from exc
        return view.id

    async def _wait_running(self, sandbox_id: str) -> None:
        subscription = self._manager.bus.subscribe()
        try:
            while True:
                row = await self._manager.sandboxes.lookup(sandbox_id)
                if row is None or row.status == Status.DESTROYED:
                    raise TaskFailed(f"sandbox {sandbox_id} was destroyed")
                if row.status == Status.RUNNING:
                    return
                if row.status == Status.ERROR:
                    raise TaskFailed(f"sandbox {sandbox_id} failed to start: {row.error_message}")
                if row.status in (Status.STOPPED, Status.STOPPING, Status.DESTROYING):
                    raise TaskFailed(f"sandbox {sandbox_id} is {row.status}")
                try:
                    await asyncio.wait_for(subscription.get(), 2.0)
                except TimeoutError:
                    pass
        finally:
            subscription.close()

    async def _wait_opencode(self, sandbox_id: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.ready_timeout_s + 30
        while True:
            async with self._store.db.session() as session:
                row = await oc_repo.server(session, sandbox_id)
            state = row.state if row is not None else "starting"
            if state == "ready":
                return
            if state == "absent":
                raise TaskFailed(
                    f"sandbox {sandbox_id} has no OpenCode: its image declares no"
                    f" {self._config.service!r} service (use an image such as dev-base)"
                )
            if state == "failed":
                detail = row.detail if row is not None else ""
                raise TaskFailed(f"OpenCode did not start in sandbox {sandbox_id}: {detail}")
            if loop.time() > deadline:
                raise TaskFailed(f"OpenCode in sandbox {sandbox_id} did not become ready in time")
            await asyncio.sleep(0.5)

    async def _branch(self, task: Task, workspace: TaskWorkspace | None) -> Task:
        assert task.sandbox_id is not None
        agent = await self._access.agent(task.sandbox_id)
        user = self._config.guest_user
        wanted = f"{self._config.branch_prefix}{task.id}"
        repos = [
            r
            for r in (workspace.repos if workspace else ())
            if not task.repos or r.name in task.repos
        ]
        if task.repos and not repos:
            raise TaskFailed(f"none of the target repositories {task.repos} is in the workspace")
        cut: list[git.Branched] = []
        if repos:
            for target in repos:
                base = task.base_branch or target.branch
                cut.append(await git.create_branch(agent, user, target.path, wanted, base))
        else:
            home = self._access.launcher.home(task.sandbox_id)
            scratch = posixpath.join(home, self._config.workdir.removeprefix("~/"))
            await git.ensure_repo(agent, user, scratch)
            cut.append(await git.create_branch(agent, user, scratch, wanted, task.base_branch))
        record = {b.path: {"branch": b.branch, "base": b.base, "from": b.source} for b in cut}
        return await self._store.update(
            task.id, branch=cut[0].branch, directory=cut[0].path, git=record
        )


def _key(task: Task) -> str:
    return task.workspace_id or f"user:{task.owner_id}"
