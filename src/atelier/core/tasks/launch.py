"""Launching a task's OpenCode sessions: render the template, create the session, prompt it.

Each step is recorded before the next, so a manager killed half-way resumes without
duplicating anything: a session id is stored right after OpenCode creates it, and a
session that has the id but no `prompted_at` is prompted again only when OpenCode shows
no user message in it yet.
"""

from __future__ import annotations

import logging

from atelier.core.tasks.catalog import TemplateCatalog
from atelier.core.tasks.guest import OpencodeAccess
from atelier.core.tasks.store import TaskStore
from atelier.core.tasks.workspaces import TaskWorkspace, WorkspaceLookup
from atelier.core.templates import SessionTemplate, render
from atelier.db.models import Task, TaskSession
from atelier.db.repos import tasks as repo
from atelier.db.types import utcnow
from atelier.errors import ValidationError
from atelier.runtime.opencode import ModelRef, Prompt

log = logging.getLogger(__name__)


def variables(task: Task, workspace: TaskWorkspace | None) -> dict[str, str]:
    """The values a template's `{variables}` take for a task."""
    git = task.git or {}
    first: dict[str, object] = next(iter(git.values()), {}) if git else {}
    repos = [r.name for r in workspace.repos] if workspace else []
    if task.repos is not None:
        repos = [r for r in repos if r in task.repos]
    return {
        "task.id": task.id,
        "task.title": task.title,
        "task.prompt": task.prompt,
        "task.context": task.context,
        "workspace.name": workspace.name if workspace else "",
        "workspace.repos": ", ".join(repos),
        "sandbox.id": task.sandbox_id or "",
        "branch": task.branch or "",
        "base_branch": str(first.get("from") or ""),
        "directory": task.directory or "",
    }


def build_prompt(
    task: Task, template: SessionTemplate, effort: str | None, workspace: TaskWorkspace | None
) -> Prompt:
    """What to send: the rendered prompt with the effort's (or the task's) model and agent."""
    chosen = template.effort(effort)
    options = task.options or {}
    model_text = options.get("model") or chosen.model
    try:
        model = ModelRef.parse(model_text)
    except ValueError as exc:
        raise ValidationError(str(exc), field="model") from exc
    return Prompt(
        text=render(template.prompt, variables(task, workspace)),
        model=model,
        agent=options.get("agent") or chosen.agent,
        variant=chosen.variant,
    )


class SessionLauncher:
    """Starts the sessions of a task that are due."""

    def __init__(
        self,
        store: TaskStore,
        access: OpencodeAccess,
        catalog: TemplateCatalog,
        workspaces: WorkspaceLookup,
    ) -> None:
        self._store = store
        self._access = access
        self._catalog = catalog
        self._workspaces = workspaces

    async def launch(self, task_id: str, positions: list[int] | None = None) -> int:
        """Start due sessions (`positions`, or every "now" one not started); how many."""
        task = await self._store.load(task_id)
        workspace = await self._workspaces.find(task.workspace_id) if task.workspace_id else None
        templates = await self._catalog.effective(task.workspace_id)
        started = 0
        for row in task.sessions:
            due = row.position in positions if positions is not None else row.launch == "now"
            if not due or row.prompted_at is not None:
                continue
            await self._launch_one(task, row, templates.get(row.template_id), workspace)
            started += 1
        return started

    async def _launch_one(
        self,
        task: Task,
        row: TaskSession,
        template: SessionTemplate,
        workspace: TaskWorkspace | None,
    ) -> None:
        assert task.sandbox_id is not None and task.directory is not None
        client = await self._access.client(task.sandbox_id)
        prompt = build_prompt(task, template, row.effort, workspace)
        session_id = row.session_id
        if session_id is None:
            # A read first: it starts OpenCode's instance for this directory (slow the first
            # time) and is retried on a timeout, which creating a session must not be.
            await client.statuses(task.directory)
            session = await client.create_session(f"{task.title} · {template.name}", task.directory)
            session_id = session.id
            await self._set(task.id, row.position, session_id=session_id)
        else:
            messages = await client.messages(session_id, task.directory, 5)
            if any(m.role == "user" for m in messages):
                await self._set(task.id, row.position, prompted_at=utcnow())
                return
        await client.prompt(session_id, prompt, task.directory)
        await self._set(task.id, row.position, prompted_at=utcnow())
        if row.role == "main":
            await self._store.update(task.id, rendered_prompt=prompt.text)
        log.info("task %s: session %s (%s) started", task.id, session_id, template.id)

    async def _set(self, task_id: str, position: int, **fields: object) -> None:
        async with self._store.db.session() as session:
            task = await repo.get(session, task_id)
            assert task is not None
            for row in task.sessions:
                if row.position == position:
                    for key, value in fields.items():
                        setattr(row, key, value)
