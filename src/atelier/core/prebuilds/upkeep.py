"""Prebuild upkeep: removing superseded prebuilds, recovering after a restart, deleting a
workspace's prebuilds, and finding strays.

Only names that parse as Atelier's (`atl-pre-<id>` volumes, `atl-mem-pre-<id>.state`
files) are ever removed, and only when no live prebuild row refers to them.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from atelier.core.prebuilds.service import ACTIVE, PrebuildService, retire_cutoff
from atelier.db.models import Prebuild
from atelier.db.repos import prebuilds as repo
from atelier.db.repos import workspaces as ws_repo
from atelier.db.types import utcnow
from atelier.errors import AtelierError
from atelier.runtime.host import names

log = logging.getLogger(__name__)

KEEP = ("queued", "building", "ready")


async def auto_workspaces(service: PrebuildService) -> list[str]:
    """Workspaces whose definition asks for automatic prebuilds and that have a ready one."""
    found = []
    async with service.db.session() as session:
        for workspace in await ws_repo.all_workspaces(session):
            policy = (workspace.definition or {}).get("prebuild") or {}
            if policy.get("auto", True) and await repo.of_workspace(
                session, workspace.id, statuses=["ready"]
            ):
                found.append(workspace.id)
    return found


async def _remove_artifacts(service: PrebuildService, row: Prebuild) -> None:
    runtime = service._runtime()
    for volume in (row.disk_volume, row.memory_volume):
        if volume and runtime is not None:
            with contextlib.suppress(AtelierError):
                await runtime.storage.delete(volume, force=True)
    if row.memory_state:
        Path(row.memory_state).unlink(missing_ok=True)
    row.disk_volume = row.memory_volume = row.memory_state = row.memory_token = None


async def retire(service: PrebuildService, grace_s: float) -> list[str]:
    """Remove the volumes and memory files of prebuilds superseded more than `grace_s` ago."""
    removed = []
    cutoff = retire_cutoff(grace_s)
    async with service.db.session() as session:
        for row in await repo.with_status(session, ["superseded"]):
            if row.disk_volume is None and row.memory_volume is None and row.memory_state is None:
                continue
            if row.finished_at is not None and row.finished_at > cutoff:
                continue
            await _remove_artifacts(service, row)
            removed.append(row.id)
    return removed


async def drop_workspace(service: PrebuildService, workspace_id: str) -> None:
    """Cancel the workspace's builds and remove all its prebuilds' volumes and files."""
    async with service.db.session() as session:
        rows = await repo.of_workspace(session, workspace_id)
    for row in rows:
        task = service._tasks.get(row.id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    async with service.db.session() as session:
        for row in await repo.of_workspace(session, workspace_id):
            await _remove_artifacts(service, row)


async def recover(service: PrebuildService) -> list[str]:
    """At start: builds a restart interrupted are failed (reconcile removed their VMs), and
    prebuild volumes and memory files no live prebuild refers to are removed."""
    notes: list[str] = []
    async with service.db.session() as session:
        for row in await repo.with_status(session, ACTIVE):
            if row.id not in service._tasks:
                row.status, row.finished_at = "failed", utcnow()
                row.error = "the manager restarted during the build"
                notes.append(f"prebuild {row.id} interrupted")
        kept = await repo.with_status(session, KEEP)
    volumes = {v for r in kept for v in (r.disk_volume, r.memory_volume) if v}
    states = {Path(r.memory_state).name for r in kept if r.memory_state}
    runtime = service._runtime()
    if runtime is not None:
        for volume in await runtime.storage.list():
            parsed = names.parse_volume(volume.name)
            if parsed is not None and parsed.kind == "pre" and volume.name not in volumes:
                with contextlib.suppress(AtelierError):
                    await runtime.storage.delete(volume.name, force=True)
                    notes.append(f"volume {volume.name}")
    if service.snapshot_dir.is_dir():
        for entry in service.snapshot_dir.iterdir():
            parsed_state = names.parse_memory_state(entry.name)
            if parsed_state and parsed_state[0] == "pre" and entry.name not in states:
                entry.unlink(missing_ok=True)
                notes.append(f"memory {entry.name}")
    for note in notes:
        log.info("prebuild recovery: %s", note)
    return notes
