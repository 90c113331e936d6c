"""Tasks as the API, CLI and dashboard show them, and the requests that create them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from atelier.core.tasks.states import TaskStatus, actions
from atelier.db.models import Task, TaskSession

Launch = Literal["now", "after_main"]
SandboxAction = Literal["keep", "stop", "destroy"]


@dataclass(frozen=True)
class ReviewRequest:
    """An extra session with a (secondary) template on the task's sandbox."""

    template_id: str
    effort: str | None = None
    launch: Launch = "after_main"  # "now": in parallel with the main session


@dataclass(frozen=True)
class TaskCreate:
    """What a new task asks for (validated by the service)."""

    title: str
    prompt: str
    workspace_id: str | None = None
    template_id: str = "implement"
    effort: str | None = None
    model: str | None = None  # "provider/model", overrides the effort's model
    agent: str | None = None  # overrides the effort's agent
    repos: list[str] | None = None  # target repository names; None = all
    base_branch: str | None = None
    context: str = ""
    reviews: list[ReviewRequest] = field(default_factory=list)
    start: bool = False


@dataclass(frozen=True)
class TaskSessionView:
    """One session a task runs (or will launch)."""

    position: int
    role: str
    template_id: str
    effort: str | None
    launch: str
    session_id: str | None
    prompted_at: datetime | None

    @classmethod
    def of(cls, row: TaskSession) -> TaskSessionView:
        return cls(
            row.position,
            row.role,
            row.template_id,
            row.effort,
            row.launch,
            row.session_id,
            row.prompted_at,
        )


@dataclass(frozen=True)
class TaskView:
    """A task with its sessions and tracked progress."""

    id: str
    title: str
    prompt: str
    context: str
    status: str
    owner_id: str
    workspace_id: str | None
    template_id: str
    effort: str | None
    model: str | None
    agent: str | None
    repos: list[str] | None
    base_branch: str | None
    error: str | None
    sandbox_id: str | None
    branch: str | None
    directory: str | None
    rendered_prompt: str | None
    progress: dict[str, Any] | None
    queue_position: int | None
    sessions: list[TaskSessionView]
    actions: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    review_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Task, queue_position: int | None = None) -> TaskView:
        options = row.options or {}
        return cls(
            id=row.id,
            title=row.title,
            prompt=row.prompt,
            context=row.context,
            status=row.status,
            owner_id=row.owner_id,
            workspace_id=row.workspace_id,
            template_id=row.template_id,
            effort=row.effort,
            model=options.get("model"),
            agent=options.get("agent"),
            repos=row.repos,
            base_branch=row.base_branch,
            error=row.error,
            sandbox_id=row.sandbox_id,
            branch=row.branch,
            directory=row.directory,
            rendered_prompt=row.rendered_prompt,
            progress=row.progress,
            queue_position=queue_position,
            sessions=[TaskSessionView.of(s) for s in row.sessions],
            actions=actions(TaskStatus(row.status)),
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            review_at=row.review_at,
            finished_at=row.finished_at,
        )

    def to_dict(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        data["sessions"] = [s.__dict__.copy() for s in self.sessions]
        data["actions"] = list(self.actions)
        return data
