"""Dashboard sources over AI task dispatch: tasks, templates, attention, OpenCode config.

Adapters from `atelier.core.tasks.system.TaskSystem` to the view-model Protocols of
`protocols.py`; `task_sources(manager)` returns them (empty when tasks are not installed).
Access rules are the services' own (NotFound, Forbidden, ValidationError pass through).
"""

from __future__ import annotations

import json
from typing import Any, cast, get_args

from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.core.opencode_config import MAIN_FILE
from atelier.core.tasks import ReviewRequest, TaskCreate, TaskView
from atelier.core.tasks.system import TaskSystem, tasks_of
from atelier.core.templates import SessionTemplate
from atelier.errors import Unavailable, ValidationError
from atelier.web.sources.models import (
    AttentionAnswer,
    AttentionItem,
    AttentionOption,
    AttentionQuestion,
    DefinitionProblem,
    DiffFile,
    Progress,
    TaskAction,
    TaskDetail,
    TaskDraft,
    TaskSession,
    TaskSummary,
    TemplateView,
    Todo,
)

_ACTIONS = set(get_args(TaskAction))


def template_view(template: SessionTemplate) -> TemplateView:
    return TemplateView(
        id=template.id,
        name=template.name,
        category=template.category,
        description=template.description,
        efforts=tuple(e.name for e in template.efforts),
        default_effort=template.default_effort,
        source=template.source,
        prompt=template.prompt,
        models=tuple(
            f"{e.model} ({', '.join(x for x in (e.variant, e.agent) if x) or 'default'})"
            for e in template.efforts
        ),
    )


def _summary(view: TaskView) -> TaskSummary:
    progress = view.progress or {}
    todos = progress.get("todos") or {}
    return TaskSummary(
        id=view.id,
        title=view.title,
        status=view.status,
        created_at=view.created_at,
        workspace_id=view.workspace_id,
        branch=view.branch,
        sandbox_id=view.sandbox_id,
        progress=Progress(
            completed=int(todos.get("done") or 0),
            in_progress=int(todos.get("inProgress") or 0),
            pending=int(todos.get("pending") or 0),
            current=todos.get("current"),
        )
        if todos.get("total")
        else None,
        attention=int(progress.get("attention") or 0),
        working=bool(progress.get("busy")),
        error=view.error,
        actions=tuple(cast(TaskAction, a) for a in view.actions if a in _ACTIONS),
    )


def _session(node: dict[str, Any]) -> TaskSession:
    status = node.get("status")
    return TaskSession(
        id=str(node.get("id")),
        title=str(node.get("title") or ""),
        status=status if status in ("idle", "busy", "retry") else "idle",
        template_id=node.get("templateId"),
        todos=tuple(
            Todo(str(t.get("content")), t.get("status", "pending")) for t in node.get("todos") or ()
        ),
        children=tuple(_session(c) for c in node.get("children") or ()),
    )


class TaskBoard:
    """`TaskSource` and `TemplateSource` over the task service and template catalog."""

    def __init__(self, system: TaskSystem) -> None:
        self._system = system

    async def tasks(
        self, principal: Principal, workspace_id: str | None = None
    ) -> list[TaskSummary]:
        views = await self._system.tasks.list(principal, workspace_id=workspace_id)
        return [_summary(v) for v in views]

    async def get(self, principal: Principal, task_id: str) -> TaskDetail:
        view = await self._system.tasks.get(principal, task_id)
        progress = view.progress or {}
        diff = progress.get("diff") or {}
        templates = await self._system.catalog.effective(view.workspace_id)
        return TaskDetail(
            summary=_summary(view),
            description=view.prompt,
            context=view.context,
            template_id=view.template_id,
            effort=view.effort,
            sessions=tuple(_session(s) for s in progress.get("sessions") or ()),
            diff=tuple(
                DiffFile(f["path"], f["added"], f["removed"], f.get("status", "modified"))
                for f in diff.get("files") or ()
            ),
            reviews=tuple(
                template_view(t) for t in templates.templates if t.category == "secondary"
            ),
            started_at=view.started_at,
            completed_at=view.finished_at,
            updated_at=view.updated_at,
        )

    async def create(self, principal: Principal, draft: TaskDraft) -> TaskSummary:
        request = TaskCreate(
            title=draft.title,
            prompt=draft.description,
            workspace_id=draft.workspace_id,
            template_id=draft.template_id or "implement",
            effort=draft.effort,
            context=draft.context,
            start=draft.start,
        )
        return _summary(await self._system.tasks.create(principal, request))

    async def act(self, principal: Principal, task_id: str, action: TaskAction) -> None:
        service = self._system.tasks
        if action == "start":
            await service.start(principal, task_id)
        elif action == "done":
            await service.done(principal, task_id)
        elif action == "cancel":
            await service.cancel(principal, task_id)
        elif action == "reset":
            await service.reset(principal, task_id)
        elif action == "delete":
            await service.delete(principal, task_id)
        else:
            raise ValidationError(f"unknown task action {action!r}", field="action")

    async def add_review(self, principal: Principal, task_id: str, template_id: str) -> None:
        await self._system.tasks.add_review(principal, task_id, ReviewRequest(template_id))

    async def templates(
        self, principal: Principal, workspace_id: str | None = None
    ) -> list[TemplateView]:
        found = await self._system.catalog.list(principal, workspace_id)
        return [template_view(t) for t in found]


class AttentionFeed:
    """`AttentionSource` over the attention service."""

    def __init__(self, system: TaskSystem) -> None:
        self._system = system

    async def pending(self, principal: Principal) -> list[AttentionItem]:
        items = await self._system.attention.pending(principal)
        return [
            AttentionItem(
                id=i.id,
                kind=i.kind,
                sandbox_id=i.sandbox_id,
                title=i.title,
                created_at=i.created_at,
                detail=i.detail,
                task_id=i.task_id,
                task_title=i.task_title,
                session_id=i.session_id,
                questions=tuple(
                    AttentionQuestion(
                        q.text,
                        q.header,
                        tuple(AttentionOption(o.label, o.description) for o in q.options),
                        q.multiple,
                        q.custom,
                    )
                    for q in i.questions
                ),
                allow_always=i.kind == "permission",
            )
            for i in items
        ]

    async def answer(self, principal: Principal, item_id: str, answer: AttentionAnswer) -> None:
        await self._system.attention.answer(principal, item_id, answer.reply, answer.answers)


class OpencodeSettings:
    """`OpencodeConfigSource`: the global opencode.json (admins may save it)."""

    def __init__(self, system: TaskSystem) -> None:
        self._system = system

    async def get(self, principal: Principal) -> str:
        for stored in await self._system.configs.files(principal, None):
            if stored.path == MAIN_FILE:
                return stored.content
        return "{}\n"

    async def save(self, principal: Principal, text: str) -> list[DefinitionProblem]:
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            return [DefinitionProblem(f"not valid JSON: {exc.msg}", "content", exc.lineno)]
        try:
            await self._system.configs.put(principal, None, MAIN_FILE, text)
        except ValidationError as exc:
            return [DefinitionProblem(exc.message, exc.field or "")]
        return []


def task_sources(manager: Manager) -> dict[str, Any]:
    """The `Sources` fields this subsystem fills: tasks, templates, attention, opencode_config."""
    try:
        system = tasks_of(manager)
    except Unavailable:
        return {}
    board = TaskBoard(system)
    return {
        "tasks": board,
        "templates": board,
        "attention": AttentionFeed(system),
        "opencode_config": OpencodeSettings(system),
    }
