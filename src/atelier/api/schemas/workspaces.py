"""Workspaces, prebuilds, git sources and dev commands on the wire (camelCase JSON).

Secret values only ever travel *in* (write-only); nothing here can carry one out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from atelier.core.devcmds import DevStatus
from atelier.core.prebuilds.staleness import Staleness
from atelier.core.prebuilds.views import PrebuildView, WorkspacePrebuild
from atelier.core.workspaces.gitsources import GitSourceView
from atelier.core.workspaces.service import WorkspaceRecord


class Camel(BaseModel):
    """Models that speak camelCase JSON and accept both spellings."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Out(BaseModel):
    """Response models (camelCase out)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class SecretIn(Camel):
    value: str = Field(max_length=65536, description="the value (write-only: never returned)")


class ImportIn(Camel):
    text: str = Field(max_length=1_000_000, description="the devcontainer.json text (JSONC)")
    name: str | None = Field(None, max_length=64, description="workspace name (default: its name)")


class GitSourceIn(Camel):
    name: str | None = Field(None, max_length=64)
    kind: str | None = Field(None, description="github | https | ssh")
    host: str | None = Field(None, max_length=260, description="the git host it is sent to")
    username: str | None = Field(None, max_length=128)
    secret: str | None = Field(None, max_length=16384, description="token, password or key")
    known_hosts: str | None = Field(None, max_length=65536)


class PrebuildStateOut(Out):
    status: str
    ready_id: str | None
    active_id: str | None
    built_at: datetime | None
    memory_snapshot: bool
    commits: dict[str, str]
    message: str

    @classmethod
    def of(cls, state: WorkspacePrebuild) -> PrebuildStateOut:
        return cls(**state.to_dict())


class SecretOut(Out):
    name: str
    kind: str
    set: bool
    path: str | None


class WorkspaceOut(Out):
    id: str
    name: str
    owner: str
    definition: dict[str, Any]
    secrets: list[SecretOut]
    prebuild: PrebuildStateOut
    sandboxes: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: WorkspaceRecord, state: WorkspacePrebuild, sandboxes: int) -> WorkspaceOut:
        return cls(
            id=record.id, name=record.name, owner=record.owner, definition=record.definition,
            secrets=[SecretOut(**s.to_dict()) for s in record.secrets],
            prebuild=PrebuildStateOut.of(state), sandboxes=sandboxes,
            created_at=record.created_at, updated_at=record.updated_at,
        )  # fmt: skip


class PrebuildOut(Out):
    id: str
    workspace_id: str
    status: str
    trigger: str
    image: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    memory_snapshot: bool
    commits: dict[str, str]
    steps: list[dict[str, Any]]
    error: str | None
    stale_reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    checked_at: datetime | None

    @classmethod
    def of(cls, view: PrebuildView) -> PrebuildOut:
        return cls(**view.to_dict())


class StalenessOut(Out):
    stale: bool
    reasons: list[str]
    remote: dict[str, str]
    unknown: list[str]
    rebuilding: bool = False

    @classmethod
    def of(cls, result: Staleness, rebuilding: bool) -> StalenessOut:
        return cls(**result.to_dict(), rebuilding=rebuilding)


class GitSourceOut(Out):
    id: str
    name: str
    kind: str
    host: str | None
    username: str | None
    has_known_hosts: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: GitSourceView) -> GitSourceOut:
        return cls(**view.to_dict())


class DevCommandOut(Out):
    name: str
    command: str
    cwd: str
    port: int | None
    autostart: bool
    visibility: str
    state: str
    pid: int | None
    exit_code: int | None
    restarts: int
    url: str | None

    @classmethod
    def of(cls, status: DevStatus) -> DevCommandOut:
        return cls(**status.to_dict())


class LogChunkOut(Out):
    text: str
    next_offset: int
    done: bool = False
    size: int | None = None
