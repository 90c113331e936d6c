"""Shared auth: opt in to share your provider credentials across your sandboxes."""

from __future__ import annotations

from fastapi import APIRouter

from atelier.api.deps import CurrentUser, ManagerDep
from atelier.api.schemas.tasks import SharedAuthOut, SharedAuthSettings
from atelier.core.tasks.system import tasks_of

router = APIRouter(prefix="/api/shared-auth", tags=["shared auth"])


@router.get("")
async def get_shared_auth(user: CurrentUser, manager: ManagerDep) -> SharedAuthOut:
    """Your choice, the warning, and your stored credentials (never their secrets)."""
    return SharedAuthOut.of(await tasks_of(manager).authsync.view(user))


@router.put("")
async def set_shared_auth(
    body: SharedAuthSettings, user: CurrentUser, manager: ManagerDep
) -> SharedAuthOut:
    """Opt in or out (sharing may violate some providers' terms; read `warning`)."""
    return SharedAuthOut.of(await tasks_of(manager).authsync.set_enabled(user, body.enabled))


@router.delete("/{provider}")
async def remove_credential(provider: str, user: CurrentUser, manager: ManagerDep) -> SharedAuthOut:
    """Forget a credential; it is removed from your sandboxes too."""
    return SharedAuthOut.of(await tasks_of(manager).authsync.remove(user, provider))
