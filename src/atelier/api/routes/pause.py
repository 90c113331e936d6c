"""Pause and resume a sandbox with its memory (saved to disk; the VM is freed meanwhile)."""

from __future__ import annotations

from fastapi import APIRouter

from atelier.api.deps import CurrentUser, ManagerDep
from atelier.api.schemas.sandboxes import SandboxOut

router = APIRouter(prefix="/api/sandboxes/{sandbox_id}", tags=["sandboxes"])


@router.post("/pause")
async def pause(sandbox_id: str, user: CurrentUser, manager: ManagerDep) -> SandboxOut:
    """Save the running sandbox's memory and free its VM; it shows as `paused`."""
    return SandboxOut.of(await manager.sandboxes.pause(user, sandbox_id))


@router.post("/resume")
async def resume(sandbox_id: str, user: CurrentUser, manager: ManagerDep) -> SandboxOut:
    """Resume a paused sandbox: its processes and memory carry on where they were."""
    return SandboxOut.of(await manager.sandboxes.resume(user, sandbox_id))
