"""What tasks need from workspaces, as a Protocol the workspace service implements.

A task runs in a sandbox made from its workspace (from the prebuild when there is one: the
workspace subsystem decides that when a sandbox is created with its `workspace_id`), on a
branch of each target repository, with the workspace's OpenCode settings and under its
limit of concurrently active tasks. `NoWorkspaces` serves managers that have no workspace
subsystem: tasks then run without a workspace in a scratch repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from atelier.core.auth import Principal
from atelier.errors import NotFound


@dataclass(frozen=True)
class TaskRepo:
    """A repository cloned into the workspace's sandboxes."""

    name: str
    path: str  # absolute clone path inside the sandbox
    branch: str | None = None  # the branch that is checked out after cloning
    can_push: bool = False  # the git source lets the manager push task branches


@dataclass(frozen=True)
class TaskWorkspace:
    """The facts about a workspace a task needs."""

    id: str
    name: str
    repos: tuple[TaskRepo, ...] = ()
    image: str | None = None
    vcpus: int | None = None
    memory_mb: int | None = None
    disk_gb: int | None = None
    has_prebuild: bool = False
    max_active_tasks: int | None = None  # None: the configured default
    opencode_config: Mapping[str, Any] = field(default_factory=dict)  # from its definition
    member_ids: frozenset[str] | None = None  # who may see it; None = every user


@runtime_checkable
class WorkspaceLookup(Protocol):
    """Read access to workspaces for the task service."""

    async def get(self, principal: Principal, workspace_id: str) -> TaskWorkspace:
        """A workspace the caller may see; NotFound otherwise."""
        ...

    async def find(self, workspace_id: str) -> TaskWorkspace | None:
        """A workspace without access checks (background work), None when deleted."""
        ...

    async def can_edit(self, principal: Principal, workspace_id: str) -> bool:
        """Whether the caller may change the workspace's templates and OpenCode config."""
        ...


class NoWorkspaces:
    """The lookup of a manager without workspaces: every id is unknown."""

    async def get(self, principal: Principal, workspace_id: str) -> TaskWorkspace:
        raise NotFound(
            f"no workspace {workspace_id!r}: this manager has no workspaces",
            field="workspaceId",
            hint="create the task without a workspace",
        )

    async def find(self, workspace_id: str) -> TaskWorkspace | None:
        return None

    async def can_edit(self, principal: Principal, workspace_id: str) -> bool:
        return False
