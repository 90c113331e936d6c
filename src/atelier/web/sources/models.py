"""View models: the data dashboard pages render, independent of how services store it.

Sources (see `protocols.py`) return these frozen dataclasses. They hold display-ready
values (strings, counts, datetimes), never ORM rows or driver objects, so a page cannot
trigger I/O while rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# -- attention -------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionOption:
    """One choice of a question."""

    label: str
    description: str = ""


@dataclass(frozen=True)
class AttentionQuestion:
    """One question of a question request (OpenCode may ask several at once)."""

    text: str
    header: str = ""
    options: tuple[AttentionOption, ...] = ()
    multiple: bool = False  # several options may be picked
    custom: bool = True  # free text is accepted


@dataclass(frozen=True)
class AttentionItem:
    """Something an agent waits for a human about: a permission or a question."""

    id: str
    kind: Literal["permission", "question"]
    sandbox_id: str
    title: str  # "bash", "edit src/app.py", or the first question's header
    created_at: datetime
    detail: str = ""  # what exactly is asked: the command, patterns, file path, diff
    task_id: str | None = None
    task_title: str | None = None
    session_id: str | None = None
    questions: tuple[AttentionQuestion, ...] = ()  # questions only
    allow_always: bool = False  # permissions: offer "Always allow"


@dataclass(frozen=True)
class AttentionAnswer:
    """A human's answer.

    Permissions: `reply` is "once", "always" or "reject". Questions: `reply` is "answer"
    with one tuple of chosen labels (plus any typed text) per question, or "skip".
    """

    reply: Literal["once", "always", "reject", "answer", "skip"]
    answers: tuple[tuple[str, ...], ...] = ()


# -- tasks and templates ---------------------------------------------------------------

# The task state machine of `atelier.core.tasks.states` (review: the agent is idle and
# waits for a human look).
TASK_STATUSES = ("draft", "queued", "starting", "running", "review", "failed", "done", "cancelled")
TaskAction = Literal["start", "done", "cancel", "reset", "delete"]


@dataclass(frozen=True)
class Progress:
    """Todo progress of a task's sessions (cancelled todos excluded)."""

    completed: int = 0
    in_progress: int = 0
    pending: int = 0
    current: str | None = None  # the todo being worked on

    @property
    def total(self) -> int:
        return self.completed + self.in_progress + self.pending

    @property
    def percent(self) -> int:
        return round(100 * self.completed / self.total) if self.total else 0


@dataclass(frozen=True)
class TaskSummary:
    """A task as lists and board cards show it."""

    id: str
    title: str
    status: str  # one of TASK_STATUSES
    created_at: datetime
    workspace_id: str | None = None
    workspace_name: str | None = None
    branch: str | None = None
    sandbox_id: str | None = None
    progress: Progress | None = None
    attention: int = 0  # pending attention items
    working: bool = False  # a session is busy
    error: str | None = None
    actions: tuple[TaskAction, ...] = ()  # what the caller may do now


@dataclass(frozen=True)
class Todo:
    """One todo of a session."""

    content: str
    status: Literal["pending", "in_progress", "completed", "cancelled"]


@dataclass(frozen=True)
class TaskSession:
    """An agent session of a task, with its sub-agent sessions."""

    id: str
    title: str
    status: Literal["idle", "busy", "retry", "error"]
    template_id: str | None = None
    url: str | None = None  # deep link into OpenCode's web UI
    todos: tuple[Todo, ...] = ()
    children: tuple[TaskSession, ...] = ()


@dataclass(frozen=True)
class DiffFile:
    """Changed lines of one file."""

    path: str
    added: int
    removed: int
    status: str = "modified"  # modified | added | deleted | untracked | renamed


@dataclass(frozen=True)
class TaskDetail:
    """A task with everything its detail page shows."""

    summary: TaskSummary
    description: str
    context: str = ""
    template_id: str | None = None
    effort: str | None = None
    sessions: tuple[TaskSession, ...] = ()
    diff: tuple[DiffFile, ...] = ()
    reviews: tuple[TemplateView, ...] = ()  # secondary templates that can run as reviews
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class TaskDraft:
    """What the create form sends."""

    title: str
    description: str
    workspace_id: str | None = None
    template_id: str | None = None
    effort: str | None = None
    context: str = ""
    start: bool = False  # start right away instead of keeping a draft


@dataclass(frozen=True)
class TemplateView:
    """A prompt template with its effort presets."""

    id: str
    name: str
    category: Literal["primary", "secondary"]
    description: str = ""
    efforts: tuple[str, ...] = ()
    default_effort: str | None = None
    source: str = "builtin"  # builtin | global | workspace
    prompt: str | None = None
    models: tuple[str, ...] = ()  # "provider/model (variant, agent)" per effort


# -- workspaces and dev commands -------------------------------------------------------


@dataclass(frozen=True)
class PrebuildState:
    """A workspace's prebuild."""

    status: Literal["none", "queued", "building", "ready", "failed", "stale"] = "none"
    built_at: datetime | None = None
    message: str = ""


@dataclass(frozen=True)
class WorkspaceSummary:
    """A workspace as lists show it."""

    id: str
    name: str
    image: str
    repos: tuple[str, ...] = ()
    vcpus: int | None = None
    memory_mb: int | None = None
    prebuild: PrebuildState = field(default_factory=PrebuildState)
    sandboxes: int = 0


@dataclass(frozen=True)
class DefinitionProblem:
    """A validation message about a workspace definition."""

    message: str
    field: str = ""
    line: int | None = None
    severity: Literal["error", "warning"] = "error"


@dataclass(frozen=True)
class WorkspaceDetail:
    """A workspace with its editable definition (secret values never included)."""

    summary: WorkspaceSummary
    definition: str  # the editable text (YAML or JSON, as the source chooses)
    definition_format: str = "yaml"
    secret_names: tuple[str, ...] = ()
    repo_paths: tuple[str, ...] = ()  # clone paths inside sandboxes (for git status)
    can_edit: bool = True


@dataclass(frozen=True)
class LogChunk:
    """A piece of a log read from `offset`; `next_offset` continues it."""

    text: str
    next_offset: int
    done: bool = False  # nothing more will be written


@dataclass(frozen=True)
class DevCommandView:
    """A sandbox's dev command."""

    name: str
    command: str
    status: Literal["running", "stopped", "exited", "failed"]
    port: int | None = None
    url: str | None = None
    exit_code: int | None = None
