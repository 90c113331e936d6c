"""The caller's SSH keys (`/api/ssh-keys`) and how to reach the SSH gateway (`/api/ssh`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from atelier.api.deps import CurrentUser, ManagerDep
from atelier.api.schemas.ssh_keys import SshGatewayOut, SshKeyCreate, SshKeyOut
from atelier.core.ssh import SshService, gateway_info
from atelier.core.ssh_keys import SshKeys

router = APIRouter(tags=["ssh"])


def _keys(manager: ManagerDep) -> SshKeys:
    return SshKeys(manager.db)


Keys = Annotated[SshKeys, Depends(_keys)]


@router.get("/api/ssh-keys")
async def list_keys(user: CurrentUser, keys: Keys) -> list[SshKeyOut]:
    """The caller's SSH public keys."""
    return [SshKeyOut.of(k) for k in await keys.list(user.user_id)]


@router.post("/api/ssh-keys", status_code=status.HTTP_201_CREATED)
async def add_key(body: SshKeyCreate, user: CurrentUser, keys: Keys) -> SshKeyOut:
    """Register a public key for the caller (optionally expiring)."""
    view = await keys.add(user.user_id, body.public_key, name=body.name, expires_at=body.expires_at)
    return SshKeyOut.of(view)


@router.delete("/api/ssh-keys/{key_ref:path}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_key(key_ref: str, user: CurrentUser, keys: Keys) -> Response:
    """Remove one of the caller's keys (by id, name or fingerprint); it stops working at once."""
    await keys.remove(user.user_id, key_ref)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/ssh/gateway")
async def gateway(_user: CurrentUser, request: Request, manager: ManagerDep) -> SshGatewayOut:
    """The gateway's port, public host and host key (for `atelier ssh-config`)."""
    service = getattr(request.app.state, "ssh", None)
    if isinstance(service, SshService):
        return SshGatewayOut.of(service.info())
    return SshGatewayOut.of(gateway_info(manager.config))
