"""Tracking running tasks from their sandbox's OpenCode snapshots.

For every snapshot of a sandbox, each live task there gets its progress recomputed: the
session tree below its sessions, todos across the tree, busy/idle, pending attention, the
last activity and (after file edits) its diff stat read through the agent. The tracker
moves `running` → `review` when the task has settled and back when work resumes, and
launches the reviews waiting for the main session to end. It also tells the attention
feed which task a session belongs to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from atelier.core.tasks import git
from atelier.core.tasks.guest import OpencodeAccess
from atelier.core.tasks.launch import SessionLauncher
from atelier.core.tasks.monitor import Snapshot
from atelier.core.tasks.progress import (
    DiffStat,
    SessionNode,
    TaskProgress,
    answered,
    build_tree,
    compute,
)
from atelier.core.tasks.states import TaskStatus
from atelier.core.tasks.store import TaskStore
from atelier.db.models import Task
from atelier.db.repos import tasks as repo
from atelier.errors import AtelierError
from atelier.runtime.opencode import MessageInfo, OpencodeApi, Todo

log = logging.getLogger(__name__)
S = TaskStatus
TRACKED = (S.STARTING.value, S.RUNNING.value, S.REVIEW.value)


def owner_of(owners: dict[str, tuple[str, str]], session_id: str) -> tuple[str, str] | None:
    """The task (id, title) of `session_id` among one sandbox's session owners.

    A session not seen yet (a review session just launched, one a user opened in the
    sandbox's OpenCode) belongs to the sandbox's task when the sandbox serves only one.
    """
    if session_id in owners:
        return owners[session_id]
    tasks = set(owners.values())
    return tasks.pop() if len(tasks) == 1 else None


class TaskTracker:
    """Turns snapshots into task progress and status changes."""

    def __init__(self, store: TaskStore, access: OpencodeAccess, launcher: SessionLauncher) -> None:
        self._store = store
        self._access = access
        self._launcher = launcher
        self._owners: dict[str, dict[str, tuple[str, str]]] = {}  # sandbox -> session -> task
        self._diffs: dict[str, DiffStat] = {}

    def task_of(self, sandbox_id: str, session_id: str) -> tuple[str, str] | None:
        """(task id, title) of the task a session belongs to, if any (see `owner_of`)."""
        return owner_of(self._owners.get(sandbox_id, {}), session_id)

    async def on_snapshot(self, snapshot: Snapshot, files_dirty: bool) -> None:
        async with self._store.db.session() as session:
            tasks = await repo.of_sandbox(session, snapshot.sandbox_id, TRACKED)
        if not tasks:
            self._owners.pop(snapshot.sandbox_id, None)
            return
        client = await self._access.client(snapshot.sandbox_id)
        owners: dict[str, tuple[str, str]] = {}
        for task in tasks:
            try:
                await self._track(task, snapshot, client, files_dirty, owners)
            except AtelierError as exc:
                log.debug("task %s: tracking failed: %s", task.id, exc.message)
        self._owners[snapshot.sandbox_id] = owners

    async def _track(
        self,
        task: Task,
        snapshot: Snapshot,
        client: OpencodeApi,
        files_dirty: bool,
        owners: dict[str, tuple[str, str]],
    ) -> None:
        roots = {s.session_id: s.template_id for s in task.sessions if s.session_id}
        if not roots:
            return
        directory = {s.id: s.directory for s in snapshot.sessions}
        where = task.directory or ""
        skeleton = build_tree(snapshot.sessions, roots, snapshot.statuses, {})
        ids = [n.id for root in skeleton for n in root.walk()]
        todos: dict[str, list[Todo]] = {}
        for session_id in ids:
            owners[session_id] = (task.id, task.title)
            todos[session_id] = await client.todos(session_id, directory.get(session_id, where))
        nodes = build_tree(snapshot.sessions, roots, snapshot.statuses, todos)
        last: dict[str, Sequence[MessageInfo]] = {
            root: await client.messages(root, directory.get(root, where), 3) for root in roots
        }
        pending = snapshot.pending
        attention = sum(1 for p in pending.permissions if p.session_id in ids) + sum(
            1 for q in pending.questions if q.session_id in ids
        )
        diff = await self._diff(task, files_dirty)
        waiting = [
            s.position for s in task.sessions if s.launch == "after_main" and s.prompted_at is None
        ]
        if waiting and task.status == S.RUNNING and _main_settled(task, nodes, last):
            await self._launcher.launch(task.id, waiting)
            return  # the next snapshot sees the new sessions
        progress = compute(nodes, last, attention, snapshot.sessions, diff, len(waiting))
        await self._store.save_progress(task.id, progress.to_json())
        await self._move(task, progress)

    async def _move(self, task: Task, progress: TaskProgress) -> None:
        if task.status == S.RUNNING and progress.settled:
            await self._store.move(task.id, S.REVIEW, expect={S.RUNNING})
        elif task.status == S.REVIEW and (progress.busy or progress.attention):
            await self._store.move(task.id, S.RUNNING, expect={S.REVIEW})

    async def _diff(self, task: Task, files_dirty: bool) -> DiffStat | None:
        known = self._diffs.get(task.id)
        if not task.git or not task.sandbox_id:
            return known
        if known is not None and not files_dirty:
            return known
        try:
            agent = await self._access.agent(task.sandbox_id)
            repos = {path: str(info.get("base")) for path, info in task.git.items()}
            stat = await git.diff_stat(agent, self._access.config.guest_user, repos)
        except AtelierError as exc:
            log.debug("task %s: diff stat failed: %s", task.id, exc.message)
            return known
        self._diffs[task.id] = stat
        return stat

    def forget(self, task_id: str) -> None:
        self._diffs.pop(task_id, None)


def _main_settled(
    task: Task, nodes: tuple[SessionNode, ...], last: dict[str, Sequence[MessageInfo]]
) -> bool:
    main = next((s.session_id for s in task.sessions if s.role == "main"), None)
    root = next((n for n in nodes if n.id == main), None)
    if root is None:
        return False
    idle = all(n.status == "idle" for n in root.walk())
    return idle and answered(last.get(root.id, ()))
