"""Prebuilds as the API, CLI and dashboard show them (no tokens, no host paths)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from atelier.db.models import Prebuild


@dataclass(frozen=True)
class PrebuildView:
    """One prebuild attempt."""

    id: str
    workspace_id: str
    status: str  # queued | building | ready | failed | cancelled | superseded
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
    def of(cls, row: Prebuild, live_steps: list[dict[str, Any]] | None = None) -> PrebuildView:
        return cls(
            id=row.id, workspace_id=row.workspace_id, status=row.status, trigger=row.trigger,
            image=row.image, vcpus=row.vcpus, memory_mb=row.memory_mb, disk_gb=row.disk_gb,
            memory_snapshot=bool(row.memory_state), commits=dict(row.commits or {}),
            steps=live_steps if live_steps is not None else list(row.steps or []),
            error=row.error, stale_reason=row.stale_reason, created_at=row.created_at,
            started_at=row.started_at, finished_at=row.finished_at, checked_at=row.checked_at,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class WorkspacePrebuild:
    """A workspace's prebuild state in one line: what spawns use and what is going on.

    `status`: none | queued | building | ready | stale | failed. While a rebuild runs (or
    after one failed) `ready_id` still names the prebuild spawns use.
    """

    status: str = "none"
    ready_id: str | None = None
    active_id: str | None = None
    built_at: datetime | None = None
    memory_snapshot: bool = False
    commits: dict[str, str] = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def summary(rows: Sequence[Prebuild]) -> WorkspacePrebuild:
    """The state from a workspace's prebuilds (newest first)."""
    ready = next((r for r in rows if r.status == "ready"), None)
    active = next((r for r in rows if r.status in ("queued", "building")), None)
    latest = rows[0] if rows else None
    status, message = "none", ""
    if active is not None:
        status = active.status
    elif latest is not None and latest.status == "failed":
        status, message = "failed", latest.error or ""
    elif ready is not None:
        status = "stale" if ready.stale_reason else "ready"
        message = ready.stale_reason or ""
    if active is None and latest is not None and latest.status == "failed" and ready is not None:
        when = f" of {ready.finished_at:%Y-%m-%d %H:%M}" if ready.finished_at else ""
        message = f"{latest.error or 'failed'}; spawns use the last good prebuild{when}"
    return WorkspacePrebuild(
        status=status,
        ready_id=ready.id if ready else None,
        active_id=active.id if active else None,
        built_at=ready.finished_at if ready else None,
        memory_snapshot=bool(ready and ready.memory_state),
        commits=dict(ready.commits or {}) if ready else {},
        message=message,
    )
