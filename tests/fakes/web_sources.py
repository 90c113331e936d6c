"""In-memory implementations of the dashboard's source Protocols (`atelier.web.sources`).

They behave like the services: they keep state, check simple rules (Conflict on an illegal
task action, NotFound for unknown ids) and publish the bus events the dashboard listens to
(`attention.created|resolved`, `task.created|updated|deleted`), so pages update live as with
the real services. Page-rendering unit tests use them; the browser tests run against the
real sources (`atelier.web.wiring.dashboard_sources`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from atelier.core.auth import Principal
from atelier.core.events import EventBus
from atelier.errors import Conflict, NotFound, ValidationError
from atelier.web.sources import (
    AttentionAnswer,
    AttentionItem,
    AttentionOption,
    AttentionQuestion,
    DefinitionProblem,
    DevCommandView,
    DiffFile,
    LogChunk,
    PrebuildState,
    Progress,
    TaskAction,
    TaskDetail,
    TaskDraft,
    TaskSession,
    TaskSummary,
    TemplateView,
    Todo,
    WorkspaceDetail,
    WorkspaceSummary,
)

_ids = itertools.count(1)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FakeAttention:
    """Pending items; `add()` publishes `attention.created`, answering publishes `resolved`."""

    bus: EventBus
    items: dict[str, AttentionItem] = field(default_factory=dict)
    answers: list[tuple[str, str, AttentionAnswer]] = field(default_factory=list)
    audience: set[str] | None = None

    def add(
        self,
        title: str,
        *,
        sandbox_id: str = "sbxfake1",
        kind: str = "permission",
        detail: str = "",
        task_id: str | None = None,
        task_title: str | None = None,
        questions: tuple[AttentionQuestion, ...] = (),
    ) -> AttentionItem:
        item = AttentionItem(
            id=f"att{next(_ids)}",
            kind="question" if kind == "question" else "permission",
            sandbox_id=sandbox_id,
            title=title,
            created_at=_now(),
            detail=detail,
            task_id=task_id,
            task_title=task_title,
            questions=questions,
            allow_always=kind != "question",
        )
        self.items[item.id] = item
        # The shape of atelier.core.attention.AttentionItem.to_json().
        data = {
            "id": item.id,
            "kind": item.kind,
            "sandboxId": sandbox_id,
            "title": title,
            "detail": detail,
            "taskId": task_id,
            "taskTitle": task_title,
        }
        self.bus.publish("attention.created", data, self.audience)
        return item

    async def pending(self, principal: Principal) -> list[AttentionItem]:
        return sorted(self.items.values(), key=lambda i: i.created_at)

    async def answer(self, principal: Principal, item_id: str, answer: AttentionAnswer) -> None:
        if item_id not in self.items:
            raise NotFound(f"no attention item {item_id!r}: it was answered or expired")
        del self.items[item_id]
        self.answers.append((principal.username, item_id, answer))
        self.bus.publish("attention.resolved", {"id": item_id}, self.audience)


def sample_question() -> tuple[AttentionQuestion, ...]:
    return (
        AttentionQuestion(
            "Which database should the migration target?",
            header="Database",
            options=(
                AttentionOption("PostgreSQL", "the production one"),
                AttentionOption("SQLite"),
            ),
        ),
    )


ALLOWED: dict[str, dict[TaskAction, str]] = {
    "draft": {"start": "running", "delete": "deleted"},
    "running": {"done": "done", "cancel": "cancelled"},
    "done": {"reset": "draft", "delete": "deleted"},
    "cancelled": {"reset": "draft", "delete": "deleted"},
}


@dataclass
class FakeTasks:
    """Tasks with the draft → active → done life; publishes `task.*` events."""

    bus: EventBus
    items: dict[str, TaskDetail] = field(default_factory=dict)

    def _summary(self, summary: TaskSummary, status: str) -> TaskSummary:
        actions = tuple(a for a in ALLOWED.get(status, {}))
        progress = Progress(2, 1, 1, "write the tests") if status == "running" else summary.progress
        return replace(
            summary, status=status, actions=actions, progress=progress, working=status == "running"
        )

    async def tasks(
        self, principal: Principal, workspace_id: str | None = None
    ) -> list[TaskSummary]:
        found = [t.summary for t in self.items.values()]
        return [t for t in found if workspace_id is None or t.workspace_id == workspace_id]

    async def get(self, principal: Principal, task_id: str) -> TaskDetail:
        if task_id not in self.items:
            raise NotFound(f"no task {task_id!r}")
        return self.items[task_id]

    async def create(self, principal: Principal, draft: TaskDraft) -> TaskSummary:
        if not draft.title.strip():
            raise ValidationError("title must not be empty", field="title")
        task_id = f"task{next(_ids)}"
        summary = TaskSummary(task_id, draft.title, "draft", _now(), draft.workspace_id, "web-app")
        summary = self._summary(summary, "running" if draft.start else "draft")
        self.items[task_id] = TaskDetail(
            summary,
            draft.description,
            context=draft.context,
            template_id=draft.template_id,
            effort=draft.effort,
            sessions=(
                TaskSession(
                    "ses1",
                    f"{draft.title} - implement",
                    "busy",
                    "implement",
                    todos=(
                        Todo("read the code", "completed"),
                        Todo("write the tests", "in_progress"),
                    ),
                    children=(TaskSession("ses2", "explore", "idle"),),
                ),
            ),
            diff=(DiffFile("src/app.py", 12, 3), DiffFile("tests/test_app.py", 40, 0, "added")),
            reviews=(TemplateView("security-review", "Security review", "secondary"),),
            started_at=_now() if draft.start else None,
        )
        self.bus.publish("task.created", {"id": task_id})
        return self.items[task_id].summary

    async def act(self, principal: Principal, task_id: str, action: TaskAction) -> None:
        task = await self.get(principal, task_id)
        target = ALLOWED.get(task.summary.status, {}).get(action)
        if target is None:
            raise Conflict(f"cannot {action} task {task_id}: it is {task.summary.status}")
        if target == "deleted":
            del self.items[task_id]
            self.bus.publish("task.deleted", {"id": task_id})
            return
        self.items[task_id] = replace(task, summary=self._summary(task.summary, target))
        self.bus.publish("task.updated", {"id": task_id, "status": target})

    async def add_review(self, principal: Principal, task_id: str, template_id: str) -> None:
        await self.get(principal, task_id)
        self.bus.publish("task.updated", {"id": task_id, "review": template_id})


@dataclass
class FakeTemplates:
    """Two built-in templates."""

    async def templates(
        self, principal: Principal, workspace_id: str | None = None
    ) -> list[TemplateView]:
        return [
            TemplateView(
                "implement",
                "Implementation",
                "primary",
                "Implements the task on its branch.",
                ("low", "medium", "high"),
                "medium",
                models=("anthropic/sonnet", "anthropic/opus", "anthropic/opus (max)"),
            ),
            TemplateView("security-review", "Security review", "secondary", "Looks for holes."),
        ]


@dataclass
class FakeWorkspaces:
    """One workspace whose definition must name an image."""

    secrets: dict[str, str] = field(default_factory=dict)
    definition: str = "name: web-app\nimage: minimal\nrepos:\n  - https://example.invalid/app.git\n"
    rebuilds: int = 0

    def _summary(self) -> WorkspaceSummary:
        return WorkspaceSummary(
            "ws1",
            "web-app",
            "minimal",
            ("https://example.invalid/app.git",),
            2,
            2048,
            PrebuildState("ready", _now(), "built from main"),
        )

    async def workspaces(self, principal: Principal) -> list[WorkspaceSummary]:
        return [self._summary()]

    async def get(self, principal: Principal, workspace_id: str) -> WorkspaceDetail:
        if workspace_id != "ws1":
            raise NotFound(f"no workspace {workspace_id!r}")
        return WorkspaceDetail(
            self._summary(), self.definition, secret_names=tuple(sorted(self.secrets)),
            repo_paths=("/home/dev/workspace/app",),
        )  # fmt: skip

    async def validate(self, principal: Principal, definition: str) -> list[DefinitionProblem]:
        if "image:" not in definition:
            return [DefinitionProblem("an image is required", field="image", line=1)]
        return []

    async def save(
        self, principal: Principal, workspace_id: str | None, definition: str
    ) -> WorkspaceSummary:
        problems = await self.validate(principal, definition)
        if problems:
            raise ValidationError(problems[0].message, field=problems[0].field)
        self.definition = definition
        return self._summary()

    async def set_secret(
        self, principal: Principal, workspace_id: str, name: str, value: str | None
    ) -> None:
        if value is None:
            self.secrets.pop(name, None)
        else:
            self.secrets[name] = value

    async def rebuild(self, principal: Principal, workspace_id: str) -> None:
        self.rebuilds += 1

    async def logs(self, principal: Principal, workspace_id: str, offset: int = 0) -> LogChunk:
        text = "cloning app.git\nrunning npm ci\nsnapshot taken\n"
        return LogChunk(text[offset:], len(text), done=True)


@dataclass
class FakeDevCommands:
    """A `web` dev server that is running in every sandbox."""

    async def commands(self, principal: Principal, sandbox_id: str) -> list[DevCommandView]:
        return [
            DevCommandView(
                "web", "npm run dev", "running", 5173, f"http://dev-web-{sandbox_id}.localhost"
            ),
            DevCommandView("worker", "npm run worker", "exited", exit_code=1),
        ]

    async def start(self, principal: Principal, sandbox_id: str, name: str) -> None:
        return None

    async def stop(self, principal: Principal, sandbox_id: str, name: str) -> None:
        return None

    async def logs(
        self, principal: Principal, sandbox_id: str, name: str, offset: int = 0
    ) -> LogChunk:
        text = "VITE v5 ready in 300 ms\n  ➜  Local: http://localhost:5173/\n"
        return LogChunk(text[offset:], len(text), done=name != "web")
