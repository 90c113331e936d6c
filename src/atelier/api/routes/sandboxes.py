"""Sandboxes: create, list, lifecycle, members."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Response, status

from atelier.api.deps import CurrentUser, ManagerDep
from atelier.api.schemas.sandboxes import MemberAdd, SandboxCreate, SandboxOut
from atelier.core.auth import Principal
from atelier.core.lifecycle import Status
from atelier.core.manager import Manager
from atelier.core.sandboxes import CreateRequest, SandboxView

router = APIRouter(prefix="/api/sandboxes", tags=["sandboxes"])

_SETTLED = {Status.RUNNING.value, Status.ERROR.value, Status.STOPPED.value, Status.DESTROYED.value}


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def create_sandbox(
    body: SandboxCreate,
    user: CurrentUser,
    manager: ManagerDep,
    wait: bool = Query(False, description="wait until running (or error)"),
    timeout: float = Query(600, gt=0, le=3600, description="seconds to wait with wait=true"),
) -> SandboxOut:
    """Queue a new sandbox (202); with `wait=true`, answer once it is running or failed."""
    service = manager.sandboxes
    view = await service.create(user, CreateRequest(**body.model_dump()))
    if wait:
        view = await _settle(manager, user, view.id, timeout)
    return SandboxOut.of(view)


async def _settle(
    manager: Manager, user: Principal, sandbox_id: str, timeout: float
) -> SandboxView:
    subscription = manager.bus.subscribe()
    try:
        async with asyncio.timeout(timeout):
            view = await manager.sandboxes.get(user, sandbox_id)
            while view.status not in _SETTLED:
                event = await subscription.get()
                if event.data.get("id") == sandbox_id:
                    view = await manager.sandboxes.get(user, sandbox_id)
    except TimeoutError:
        pass
    finally:
        subscription.close()
    return await manager.sandboxes.get(user, sandbox_id)


@router.get("")
async def list_sandboxes(
    user: CurrentUser,
    manager: ManagerDep,
    status_filter: list[str] | None = Query(None, alias="status"),
    workspace_id: str | None = Query(None, alias="workspaceId"),
    include_destroyed: bool = Query(False, alias="includeDestroyed"),
) -> list[SandboxOut]:
    """Sandboxes the caller owns or is a member of (all of them for admins)."""
    views = await manager.sandboxes.list_visible(
        user, status=status_filter, workspace_id=workspace_id, include_destroyed=include_destroyed
    )
    return [SandboxOut.of(v) for v in views]


@router.get("/{sandbox_id}")
async def get_sandbox(sandbox_id: str, user: CurrentUser, manager: ManagerDep) -> SandboxOut:
    """One sandbox."""
    return SandboxOut.of(await manager.sandboxes.get(user, sandbox_id))


@router.delete("/{sandbox_id}", status_code=status.HTTP_204_NO_CONTENT)
async def destroy_sandbox(sandbox_id: str, user: CurrentUser, manager: ManagerDep) -> Response:
    """Destroy: VM, network, routes and volume are removed."""
    await manager.sandboxes.destroy(user, sandbox_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{sandbox_id}/stop")
async def stop_sandbox(sandbox_id: str, user: CurrentUser, manager: ManagerDep) -> SandboxOut:
    """Power off cleanly; the volume is kept."""
    return SandboxOut.of(await manager.sandboxes.stop(user, sandbox_id))


@router.post("/{sandbox_id}/start")
async def start_sandbox(sandbox_id: str, user: CurrentUser, manager: ManagerDep) -> SandboxOut:
    """Boot a stopped sandbox again, with full guest setup."""
    return SandboxOut.of(await manager.sandboxes.start(user, sandbox_id))


@router.post("/{sandbox_id}/restart")
async def restart_sandbox(sandbox_id: str, user: CurrentUser, manager: ManagerDep) -> SandboxOut:
    """Stop, then start."""
    return SandboxOut.of(await manager.sandboxes.restart(user, sandbox_id))


@router.get("/{sandbox_id}/members")
async def list_members(sandbox_id: str, user: CurrentUser, manager: ManagerDep) -> list[str]:
    """Usernames of the sandbox's members (besides its owner)."""
    return (await manager.sandboxes.get(user, sandbox_id)).members


@router.post("/{sandbox_id}/members", status_code=status.HTTP_201_CREATED)
async def add_member(
    sandbox_id: str, body: MemberAdd, user: CurrentUser, manager: ManagerDep
) -> SandboxOut:
    """Let another user see and use the sandbox (owner or admin)."""
    return SandboxOut.of(await manager.sandboxes.add_member(user, sandbox_id, body.username))


@router.delete("/{sandbox_id}/members/{username}")
async def remove_member(
    sandbox_id: str, username: str, user: CurrentUser, manager: ManagerDep
) -> SandboxOut:
    """Take a member's access away (owner or admin)."""
    return SandboxOut.of(await manager.sandboxes.remove_member(user, sandbox_id, username))
