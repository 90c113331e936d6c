"""Page data assembled from several sources, each section failing on its own.

A `Section` is a list plus whether its source exists and, if reading it failed, why: one
broken source shows an error in its own box instead of breaking the page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from atelier.core.auth import Principal
from atelier.errors import AtelierError
from atelier.web.sources import Sources
from atelier.web.sources.models import (
    AttentionItem,
    DevCommandView,
    TaskSummary,
    TemplateView,
    WorkspaceSummary,
)
from atelier.web.sources.protocols import DevCommandSource, TaskSource
from atelier.web.sources.sandboxes import GitView, SandboxBoard, SandboxCard

log = logging.getLogger(__name__)
T = TypeVar("T")
S = TypeVar("S")
ACTIVE_TASK = frozenset({"queued", "starting", "running", "review"})


@dataclass(frozen=True)
class Section(Generic[T]):
    """One box of a page."""

    items: list[T] = field(default_factory=list)
    available: bool = True
    error: str | None = None


async def section(source: S | None, fetch: Callable[[S], Awaitable[list[T]]]) -> Section[T]:
    """Read a section from `source` (unavailable when None); a failure becomes its message."""
    if source is None:
        return Section(available=False)
    try:
        return Section(await fetch(source))
    except AtelierError as exc:
        return Section(error=exc.message)
    except Exception:
        log.exception("dashboard section failed")
        return Section(error="this section could not be read; see the manager log")


@dataclass(frozen=True)
class DevServer:
    """A running dev command with its sandbox."""

    sandbox: SandboxCard
    command: DevCommandView


@dataclass(frozen=True)
class Mission:
    """Mission control."""

    attention: Section[AttentionItem]
    tasks: Section[TaskSummary]
    running: Section[SandboxCard]
    dev: Section[DevServer]
    workspaces: Section[WorkspaceSummary]
    templates: Section[TemplateView]
    images: list[str]


COLUMNS = (
    ("draft", "Draft", frozenset({"draft"})),
    ("active", "Active", frozenset({"queued", "starting", "running"})),
    ("review", "Review", frozenset({"review"})),
    ("failed", "Failed", frozenset({"failed"})),
    ("done", "Done", frozenset({"done", "cancelled"})),
)


@dataclass(frozen=True)
class Column:
    """A board column."""

    key: str
    title: str
    tasks: list[TaskSummary]


@dataclass(frozen=True)
class TaskBoard:
    """The Tasks page: tasks (sorted active first, then newest) and the create form's data."""

    tasks: Section[TaskSummary]
    workspaces: Section[WorkspaceSummary]
    templates: Section[TemplateView]

    @property
    def columns(self) -> list[Column]:
        found = []
        for key, title, statuses in COLUMNS:
            tasks = [t for t in self.tasks.items if t.status in statuses]
            if tasks or key != "failed":
                found.append(Column(key, title, tasks))
        return found


def _order(task: TaskSummary) -> tuple[int, float]:
    return (0 if task.status in ACTIVE_TASK else 1, -task.created_at.timestamp())


class Overview:
    """Reads whole pages' worth of data."""

    def __init__(self, sources: Sources, board: SandboxBoard) -> None:
        self.sources = sources
        self.board = board

    async def attention(self, viewer: Principal) -> Section[AttentionItem]:
        return await section(self.sources.attention, lambda s: s.pending(viewer))

    async def active_tasks(self, viewer: Principal) -> Section[TaskSummary]:
        async def fetch(source: TaskSource) -> list[TaskSummary]:
            return [t for t in await source.tasks(viewer) if t.status in ACTIVE_TASK]

        return await section(self.sources.tasks, fetch)

    async def running(self, viewer: Principal) -> Section[SandboxCard]:
        return await section(self.board, lambda b: b.cards(viewer, status="running"))

    async def dev_servers(self, viewer: Principal) -> Section[DevServer]:
        async def fetch(source: DevCommandSource) -> list[DevServer]:
            cards = await self.board.cards(viewer, status="running")
            found = await asyncio.gather(
                *(source.commands(viewer, c.id) for c in cards), return_exceptions=True
            )
            servers = []
            for card, commands in zip(cards, found, strict=True):
                if isinstance(commands, BaseException):
                    continue
                servers += [DevServer(card, c) for c in commands if c.status == "running"]
            return servers

        return await section(self.sources.dev_commands, fetch)

    async def workspaces(self, viewer: Principal) -> Section[WorkspaceSummary]:
        return await section(self.sources.workspaces, lambda s: s.workspaces(viewer))

    async def templates(
        self, viewer: Principal, workspace_id: str | None = None
    ) -> Section[TemplateView]:
        return await section(self.sources.templates, lambda s: s.templates(viewer, workspace_id))

    async def task_board(self, viewer: Principal, workspace_id: str | None) -> TaskBoard:
        """Tasks (of one workspace, or all) with the create form's workspaces and templates."""

        async def fetch(source: TaskSource) -> list[TaskSummary]:
            return sorted(await source.tasks(viewer, workspace_id), key=_order)

        tasks, workspaces, templates = await asyncio.gather(
            section(self.sources.tasks, fetch),
            self.workspaces(viewer),
            self.templates(viewer, workspace_id),
        )
        return TaskBoard(tasks, workspaces, templates)

    async def mission(self, viewer: Principal) -> Mission:
        """Everything mission control shows."""
        attention, tasks, running, dev, workspaces, templates = await asyncio.gather(
            self.attention(viewer),
            self.active_tasks(viewer),
            self.running(viewer),
            self.dev_servers(viewer),
            self.workspaces(viewer),
            self.templates(viewer),
        )
        return Mission(attention, tasks, running, dev, workspaces, templates, self.board.images())

    async def git(self, viewer: Principal, sandbox_id: str) -> tuple[list[GitView], str | None]:
        """Git status of the sandbox's workspace repositories, or why there is none."""
        card = await self.board.card(viewer, sandbox_id)
        source = self.sources.workspaces
        if card.view.workspace_id is None or source is None:
            return [], "No repositories are known: this sandbox was not made from a workspace."
        if card.status != "running":
            return [], "Git status is shown while the sandbox runs."
        try:
            detail = await source.get(viewer, card.view.workspace_id)
            if not detail.repo_paths:
                return [], "The workspace has no repositories."
            return await self.board.git(viewer, sandbox_id, list(detail.repo_paths)), None
        except AtelierError as exc:
            return [], exc.message
