"""The task service: what users do with tasks (create, start, cancel, done, reset, delete).

Tasks belong to their owner; admins see every task. Other users get 404, so existence does
not leak. Creation validates everything a start needs (template and effort, model format,
target repositories, review templates), so a task fails later only for reasons outside
its definition. Illegal actions are 409 naming the statuses that allow them.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from atelier.core.auth import Principal
from atelier.core.tasks import git
from atelier.core.tasks.catalog import TemplateCatalog, check_primary
from atelier.core.tasks.guest import OpencodeAccess
from atelier.core.tasks.runner import TaskRunner
from atelier.core.tasks.states import TaskStatus, check_action
from atelier.core.tasks.store import TaskStore
from atelier.core.tasks.views import ReviewRequest, SandboxAction, TaskCreate, TaskView
from atelier.core.tasks.workspaces import WorkspaceLookup
from atelier.db.models import Task, TaskSession
from atelier.db.repos import tasks as repo
from atelier.errors import AtelierError, Conflict, Forbidden, NotFound, ValidationError
from atelier.runtime.host.names import new_id
from atelier.runtime.opencode import ModelRef

log = logging.getLogger(__name__)
S = TaskStatus
MAX_PROMPT = 100_000


class TaskService:
    """User-facing task operations."""

    def __init__(
        self,
        store: TaskStore,
        runner: TaskRunner,
        catalog: TemplateCatalog,
        workspaces: WorkspaceLookup,
        access: OpencodeAccess,
    ) -> None:
        self._store = store
        self._runner = runner
        self._catalog = catalog
        self._workspaces = workspaces
        self._access = access
        self._manager = access.manager

    # reading ------------------------------------------------------------------------

    async def _load(self, principal: Principal, task_id: str) -> Task:
        async with self._store.db.session() as session:
            row = await repo.get(session, task_id)
        if row is None or not (principal.is_admin or row.owner_id == principal.user_id):
            raise NotFound(f"no task {task_id!r}", field="id", hint="see `atelier task list`")
        return row

    async def get(self, principal: Principal, task_id: str) -> TaskView:
        row = await self._load(principal, task_id)
        positions = await self._runner.positions() if row.status == S.QUEUED else {}
        return TaskView.of(row, positions.get(row.id))

    async def list(
        self,
        principal: Principal,
        *,
        workspace_id: str | None = None,
        status: list[str] | None = None,
    ) -> list[TaskView]:
        """Tasks the caller may see, newest first."""
        for value in status or ():
            if value not in {s.value for s in S}:
                raise ValidationError(
                    f"status {value!r} is not a task status; use one of"
                    f" {', '.join(s.value for s in S)}",
                    field="status",
                )
        async with self._store.db.session() as session:
            rows = await repo.visible(
                session,
                principal.user_id,
                is_admin=principal.is_admin,
                workspace_id=workspace_id,
                statuses=status,
            )
        positions = await self._runner.positions()
        return [TaskView.of(r, positions.get(r.id)) for r in rows]

    # creating -----------------------------------------------------------------------

    async def create(self, principal: Principal, request: TaskCreate) -> TaskView:
        """A new draft (queued at once when `request.start`)."""
        title, prompt = request.title.strip(), request.prompt.strip()
        if not title or len(title) > 200:
            raise ValidationError("title must be 1-200 characters", field="title")
        if not prompt or len(prompt) > MAX_PROMPT:
            raise ValidationError(f"prompt must be 1-{MAX_PROMPT} characters", field="prompt")
        if request.workspace_id is not None:
            workspace = await self._workspaces.get(principal, request.workspace_id)
            names = {r.name for r in workspace.repos}
            unknown = [r for r in request.repos or () if r not in names]
            if unknown:
                raise ValidationError(
                    f"repos {unknown} are not in workspace {workspace.name}"
                    f" (it has: {', '.join(sorted(names)) or 'none'})",
                    field="repos",
                )
        elif request.repos:
            raise ValidationError("repos need a workspace", field="repos")
        templates = await self._catalog.effective(request.workspace_id)
        template = templates.get(request.template_id)
        check_primary(template)
        template.effort(request.effort)
        if request.model is not None:
            try:
                ModelRef.parse(request.model)
            except ValueError as exc:
                raise ValidationError(str(exc), field="model") from exc
        for review in request.reviews:
            _check_review(templates.get(review.template_id), review)
        task_id = await self._new_id()
        options: dict[str, Any] = {"model": request.model, "agent": request.agent}
        row = Task(
            id=task_id,
            owner_id=principal.user_id,
            workspace_id=request.workspace_id,
            title=title,
            prompt=prompt,
            context=request.context,
            template_id=template.id,
            effort=request.effort,
            options={k: v for k, v in options.items() if v},
            repos=request.repos,
            base_branch=request.base_branch,
            status=S.DRAFT.value,
            sessions=[
                TaskSession(position=0, role="main", template_id=template.id, effort=request.effort)
            ]
            + [
                TaskSession(
                    position=i + 1,
                    role="review",
                    template_id=r.template_id,
                    effort=r.effort,
                    launch=r.launch,
                )
                for i, r in enumerate(request.reviews)
            ],
        )
        async with self._store.db.session() as session:
            session.add(row)
        self._store.bus.publish(
            "task.status",
            {"id": task_id, "status": row.status, "previous": None, "title": title},
            {principal.user_id},
        )
        if request.start:
            await self._runner.enqueue(task_id)
        return await self.get(principal, task_id)

    async def _new_id(self) -> str:
        async with self._store.db.session() as session:
            while True:
                candidate = new_id()
                if await repo.get(session, candidate) is None:
                    return candidate

    async def update(self, principal: Principal, task_id: str, **fields: Any) -> TaskView:
        """Edit a draft's title, prompt, context, template, effort or model."""
        row = await self._owned(principal, task_id)
        check_action(task_id, "edit", S(row.status))
        allowed = {"title", "prompt", "context", "effort", "base_branch"}
        unknown = set(fields) - allowed - {"model"}
        if unknown:
            raise ValidationError(f"cannot edit {sorted(unknown)}", field=sorted(unknown)[0])
        updates = {k: v for k, v in fields.items() if k in allowed and v is not None}
        if "model" in fields:
            options = dict(row.options or {})
            options["model"] = fields["model"]
            updates["options"] = options
        await self._store.update(task_id, **updates)
        return await self.get(principal, task_id)

    # acting -------------------------------------------------------------------------

    async def _owned(self, principal: Principal, task_id: str) -> Task:
        row = await self._load(principal, task_id)
        if row.owner_id != principal.user_id and not principal.is_admin:
            raise Forbidden("only the task's owner (or an admin) can change it")
        return row

    async def start(self, principal: Principal, task_id: str) -> TaskView:
        """Queue a draft (or a failed task again); it starts when its workspace has room."""
        row = await self._owned(principal, task_id)
        check_action(task_id, "start", S(row.status))
        if row.status == S.FAILED:
            await self._store.update(task_id, error=None)
        await self._runner.enqueue(task_id)
        return await self.get(principal, task_id)

    async def cancel(
        self, principal: Principal, task_id: str, sandbox: SandboxAction = "keep"
    ) -> TaskView:
        """Stop the task: its sessions are aborted; the sandbox is kept, stopped or destroyed."""
        row = await self._owned(principal, task_id)
        check_action(task_id, "cancel", S(row.status))
        await self._runner.cancel_start(task_id)
        await self._abort_sessions(row)
        await self._store.move(task_id, S.CANCELLED)
        await self._sandbox_action(principal, row.sandbox_id, sandbox)
        await self._runner.admit()
        return await self.get(principal, task_id)

    async def done(
        self,
        principal: Principal,
        task_id: str,
        push: bool = False,
        sandbox: SandboxAction = "keep",
    ) -> TaskView:
        """Mark the task done, optionally pushing its branch where the git source allows."""
        row = await self._owned(principal, task_id)
        check_action(task_id, "done", S(row.status))
        if push:
            await self._push(row)
        await self._store.move(task_id, S.DONE)
        await self._sandbox_action(principal, row.sandbox_id, sandbox)
        await self._runner.admit()
        return await self.get(principal, task_id)

    async def reset(self, principal: Principal, task_id: str) -> TaskView:
        """Back to draft: sandbox, branch, sessions and progress are forgotten."""
        row = await self._owned(principal, task_id)
        check_action(task_id, "reset", S(row.status))
        async with self._store.db.session() as session:
            task = await repo.get(session, task_id)
            assert task is not None
            for item in task.sessions:
                item.session_id, item.prompted_at = None, None
        await self._store.move(
            task_id,
            S.DRAFT,
            sandbox_id=None,
            branch=None,
            directory=None,
            git=None,
            progress=None,
            rendered_prompt=None,
            started_at=None,
            review_at=None,
            finished_at=None,
            queued_seq=None,
        )
        return await self.get(principal, task_id)

    async def delete(self, principal: Principal, task_id: str) -> None:
        """Delete a task that is not active (its sandbox is left alone)."""
        row = await self._owned(principal, task_id)
        check_action(task_id, "delete", S(row.status))
        async with self._store.db.session() as session:
            task = await repo.get(session, task_id)
            if task is not None:
                await session.delete(task)
        self._store.bus.publish(
            "task.deleted", {"id": task_id, "workspaceId": row.workspace_id}, {row.owner_id}
        )

    async def add_review(
        self, principal: Principal, task_id: str, review: ReviewRequest
    ) -> TaskView:
        """Run a review session on the task's sandbox, now or after the main session ends."""
        row = await self._owned(principal, task_id)
        check_action(task_id, "review", S(row.status))
        templates = await self._catalog.effective(row.workspace_id)
        _check_review(templates.get(review.template_id), review)
        position = max((s.position for s in row.sessions), default=0) + 1
        async with self._store.db.session() as session:
            task = await repo.get(session, task_id)
            assert task is not None
            task.sessions.append(
                TaskSession(
                    position=position,
                    role="review",
                    template_id=review.template_id,
                    effort=review.effort,
                    launch=review.launch,
                )
            )
        if review.launch == "now" or row.status == S.REVIEW:
            await self._runner_launch(task_id, position)
            if row.status == S.REVIEW:
                await self._store.move(task_id, S.RUNNING, expect={S.REVIEW})
        return await self.get(principal, task_id)

    async def _runner_launch(self, task_id: str, position: int) -> None:
        await self._runner.launcher.launch(task_id, [position])

    async def _abort_sessions(self, row: Task) -> None:
        if row.sandbox_id is None:
            return
        with contextlib.suppress(AtelierError):
            client = await self._access.client(row.sandbox_id)
            for item in row.sessions:
                if item.session_id:
                    with contextlib.suppress(AtelierError):
                        await client.abort(item.session_id, row.directory or "")

    async def _sandbox_action(
        self, principal: Principal, sandbox_id: str | None, action: SandboxAction
    ) -> None:
        if sandbox_id is None or action == "keep":
            return
        try:
            if action == "stop":
                await self._manager.sandboxes.stop(principal, sandbox_id)
            else:
                await self._manager.sandboxes.destroy(principal, sandbox_id)
        except AtelierError as exc:
            log.warning("task sandbox %s: %s failed: %s", sandbox_id, action, exc.message)

    async def _push(self, row: Task) -> None:
        if not row.sandbox_id or not row.git:
            raise Conflict(f"task {row.id} has no branch to push", field="push")
        workspace = await self._workspaces.find(row.workspace_id) if row.workspace_id else None
        pushable = {r.path for r in workspace.repos if r.can_push} if workspace else set()
        targets = [p for p in row.git if p in pushable]
        if not targets:
            raise Conflict(
                f"task {row.id}'s repositories have no git source that allows pushing",
                field="push",
                hint="connect a git source with write access to the workspace's repository",
            )
        agent = await self._access.agent(row.sandbox_id)
        for path in targets:
            await git.push_branch(
                agent, self._access.config.guest_user, path, row.git[path]["branch"]
            )


def _check_review(template: Any, review: ReviewRequest) -> None:
    if template.category != "secondary":
        raise ValidationError(
            f"template {template.id!r} is a primary template; reviews use secondary ones"
            " (best-practices, security-review, simplification)",
            field="templateId",
        )
    template.effort(review.effort)
    if review.launch not in ("now", "after_main"):
        raise ValidationError(
            f"launch {review.launch!r} is not allowed: use now or after_main", field="launch"
        )
