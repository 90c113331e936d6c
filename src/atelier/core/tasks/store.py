"""Task rows and their changes: every status change goes through `TaskStore.move`.

`move` checks the transition, stamps the times, saves, and announces it: a `task.status`
event for the owner (the dashboard refreshes on it) and, when configured, a webhook.
Progress updates publish `task.progress` only when something a person would see changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from atelier.core.events import EventBus
from atelier.core.tasks.states import TaskStatus, check_transition
from atelier.core.webhooks import Notice, WebhookSender
from atelier.db import Database
from atelier.db.models import Task
from atelier.db.repos import tasks as repo
from atelier.db.types import utcnow
from atelier.errors import NotFound

log = logging.getLogger(__name__)
S = TaskStatus
_WORDS = {
    S.QUEUED: "is queued",
    S.STARTING: "is starting",
    S.RUNNING: "is running",
    S.REVIEW: "is ready for review",
    S.DONE: "is done",
    S.FAILED: "failed",
    S.CANCELLED: "was cancelled",
    S.DRAFT: "is back to draft",
}


def progress_digest(progress: dict[str, Any] | None) -> tuple[Any, ...]:
    """The parts of progress worth an event (not timestamps that move on every read)."""
    if not progress:
        return ()
    todos = progress.get("todos") or {}
    diff = progress.get("diff") or {}
    sessions = progress.get("sessions") or []
    return (
        todos.get("done"),
        todos.get("total"),
        todos.get("current"),
        progress.get("busy"),
        progress.get("attention"),
        diff.get("added"),
        diff.get("removed"),
        len(diff.get("files") or ()),
        tuple(s.get("status") for s in sessions),
        len(sessions),
    )


class TaskStore:
    """Loads, moves and announces tasks."""

    def __init__(self, db: Database, bus: EventBus, webhooks: WebhookSender) -> None:
        self.db = db
        self.bus = bus
        self.webhooks = webhooks
        self.listeners: list[Callable[[Task, TaskStatus], None]] = []

    async def load(self, task_id: str) -> Task:
        async with self.db.session() as session:
            row = await repo.get(session, task_id)
        if row is None:
            raise NotFound(f"no task {task_id!r}", field="id")
        return row

    async def update(self, task_id: str, **fields: Any) -> Task:
        """Save fields without a status change."""
        async with self.db.session() as session:
            row = await repo.get(session, task_id)
            if row is None:
                raise NotFound(f"no task {task_id!r}", field="id")
            for key, value in fields.items():
                setattr(row, key, value)
        return row

    async def move(
        self,
        task_id: str,
        target: TaskStatus,
        *,
        expect: set[TaskStatus] | None = None,
        **fields: Any,
    ) -> Task | None:
        """Change the status (and fields) if the task is in `expect` (default: any that may
        move to `target`); None when it was not (someone else moved it first)."""
        async with self.db.session() as session:
            row = await repo.get(session, task_id)
            if row is None:
                raise NotFound(f"no task {task_id!r}", field="id")
            previous = TaskStatus(row.status)
            if expect is not None and previous not in expect:
                return None
            check_transition(task_id, previous, target)
            row.status = target.value
            now = utcnow()
            if target == S.STARTING and row.started_at is None:
                row.started_at = now
            if target == S.REVIEW:
                row.review_at = now
            if target in (S.DONE, S.FAILED, S.CANCELLED):
                row.finished_at = now
            if target != S.FAILED:
                row.error = None
            for key, value in fields.items():
                setattr(row, key, value)
        self.announce(row, previous)
        return row

    def announce(self, row: Task, previous: TaskStatus) -> None:
        status = TaskStatus(row.status)
        data = {
            "id": row.id,
            "status": row.status,
            "previous": previous.value,
            "title": row.title,
            "workspaceId": row.workspace_id,
            "sandboxId": row.sandbox_id,
            "branch": row.branch,
            "error": row.error,
        }
        self.bus.publish("task.status", data, {row.owner_id})
        for listener in self.listeners:
            try:
                listener(row, previous)
            except Exception:
                log.exception("task listener failed")
        if self.webhooks.wants("task") and status != previous:
            message = f"Task “{row.title}” {_WORDS.get(status, row.status)}"
            if row.error:
                message += f": {row.error}"
            self.webhooks.send(
                Notice(
                    event="task.status",
                    title=f"Task {row.status}",
                    message=message,
                    data=data,
                    tags=("x",) if status == S.FAILED else ("robot",),
                    priority=4 if status in (S.REVIEW, S.FAILED) else 3,
                )
            )

    async def save_progress(self, task_id: str, progress: dict[str, Any]) -> bool:
        """Store progress; True (and a `task.progress` event) when it visibly changed."""
        async with self.db.session() as session:
            row = await repo.get(session, task_id)
            if row is None:
                return False
            changed = progress_digest(row.progress) != progress_digest(progress)
            row.progress = progress
        if changed:
            todos = progress.get("todos") or {}
            diff = progress.get("diff") or {}
            self.bus.publish(
                "task.progress",
                {
                    "id": task_id,
                    "status": row.status,
                    "todos": {"done": todos.get("done"), "total": todos.get("total")},
                    "current": todos.get("current"),
                    "busy": progress.get("busy"),
                    "attention": progress.get("attention"),
                    "diff": {
                        "files": len(diff.get("files") or ()),
                        "added": diff.get("added"),
                        "removed": diff.get("removed"),
                    },
                    "lastActivityMs": progress.get("lastActivityMs"),
                },
                {row.owner_id},
            )
        return changed
