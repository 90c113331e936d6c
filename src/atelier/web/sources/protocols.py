"""What the dashboard needs from the services that are still being built.

Each page that shows tasks, attention, templates, workspaces or dev commands reads them
through one of these Protocols. A manager without an implementation shows "not available on
this manager yet" there. Implementations are adapters in `atelier.web.sources` over the
core services, registered with `install_dashboard(manager, sources=Sources(...))`.

Every method takes the calling `Principal` and must apply the same access rules as the API:
NotFound for objects the caller may not see, Forbidden for actions they may not take, and
ValidationError (with `field`) for bad input. The dashboard shows these messages as they
are.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from atelier.core.auth import Principal
from atelier.web.sources.models import (
    AttentionAnswer,
    AttentionItem,
    DefinitionProblem,
    DevCommandView,
    LogChunk,
    TaskAction,
    TaskDetail,
    TaskDraft,
    TaskSummary,
    TemplateView,
    WorkspaceDetail,
    WorkspaceSummary,
)


@runtime_checkable
class AttentionSource(Protocol):
    """Pending permissions and questions of agents, answered from the dashboard."""

    async def pending(self, principal: Principal) -> list[AttentionItem]:
        """Items waiting for the caller, oldest first."""
        ...

    async def answer(self, principal: Principal, item_id: str, answer: AttentionAnswer) -> None:
        """Answer one item. NotFound when it is gone (answered elsewhere or expired)."""
        ...


@runtime_checkable
class TaskSource(Protocol):
    """AI coding tasks."""

    async def tasks(
        self, principal: Principal, workspace_id: str | None = None
    ) -> list[TaskSummary]:
        """Tasks the caller may see, active first, then newest."""
        ...

    async def get(self, principal: Principal, task_id: str) -> TaskDetail:
        """One task with sessions, todos and diff stat."""
        ...

    async def create(self, principal: Principal, draft: TaskDraft) -> TaskSummary:
        """A new task (a draft, or started when `draft.start`)."""
        ...

    async def act(self, principal: Principal, task_id: str, action: TaskAction) -> None:
        """Start, finish (done), cancel, reset to draft or delete (Conflict when illegal)."""
        ...

    async def add_review(self, principal: Principal, task_id: str, template_id: str) -> None:
        """Run an extra review session (a secondary template) on an active task."""
        ...


@runtime_checkable
class TemplateSource(Protocol):
    """Prompt templates with effort presets."""

    async def templates(
        self, principal: Principal, workspace_id: str | None = None
    ) -> list[TemplateView]:
        """Global templates, or the set merged with a workspace's overrides."""
        ...


@runtime_checkable
class WorkspaceSource(Protocol):
    """Workspace definitions and their prebuilds."""

    async def workspaces(self, principal: Principal) -> list[WorkspaceSummary]:
        """Workspaces the caller may see, by name."""
        ...

    async def get(self, principal: Principal, workspace_id: str) -> WorkspaceDetail:
        """One workspace with its editable definition."""
        ...

    async def validate(self, principal: Principal, definition: str) -> list[DefinitionProblem]:
        """Problems of a definition text (empty when it can be saved)."""
        ...

    async def save(
        self, principal: Principal, workspace_id: str | None, definition: str
    ) -> WorkspaceSummary:
        """Create (`workspace_id` None) or replace a definition; ValidationError if invalid."""
        ...

    async def set_secret(
        self, principal: Principal, workspace_id: str, name: str, value: str | None
    ) -> None:
        """Write a secret (write-only; `value` None deletes it)."""
        ...

    async def rebuild(self, principal: Principal, workspace_id: str) -> None:
        """Queue a new prebuild."""
        ...

    async def logs(self, principal: Principal, workspace_id: str, offset: int = 0) -> LogChunk:
        """The latest prebuild's log from `offset`."""
        ...


@runtime_checkable
class DevCommandSource(Protocol):
    """A sandbox's dev commands (dev servers) and their logs."""

    async def commands(self, principal: Principal, sandbox_id: str) -> list[DevCommandView]:
        """The sandbox's dev commands with status and URL."""
        ...

    async def start(self, principal: Principal, sandbox_id: str, name: str) -> None:
        """Start a dev command."""
        ...

    async def stop(self, principal: Principal, sandbox_id: str, name: str) -> None:
        """Stop a dev command."""
        ...

    async def logs(
        self, principal: Principal, sandbox_id: str, name: str, offset: int = 0
    ) -> LogChunk:
        """Its output from `offset`."""
        ...


@runtime_checkable
class OpencodeConfigSource(Protocol):
    """The caller's OpenCode configuration, copied into their sandboxes."""

    async def get(self, principal: Principal) -> str:
        """The current configuration text (JSON)."""
        ...

    async def save(self, principal: Principal, text: str) -> list[DefinitionProblem]:
        """Validate and store; returns the problems (nothing stored when there are errors)."""
        ...


@runtime_checkable
class GitSourceSource(Protocol):
    """Connected git hosts (tokens for cloning private repositories)."""

    async def sources(self, principal: Principal) -> list[tuple[str, str]]:
        """(id, description) of each connected source, e.g. ("gh1", "GitHub as alice")."""
        ...

    async def remove(self, principal: Principal, source_id: str) -> None:
        """Disconnect a source."""
        ...
