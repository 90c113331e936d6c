"""Users: the caller (`/api/me`) and user administration (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from atelier.api.deps import AdminUser, CurrentUser, ManagerDep
from atelier.api.schemas.users import UserCreate, UserOut

router = APIRouter(prefix="/api", tags=["users"])


@router.get("/me")
async def me(user: CurrentUser, manager: ManagerDep) -> UserOut:
    """The authenticated user."""
    return UserOut.of(await manager.auth.get_user(user.user_id))


@router.get("/users")
async def list_users(_admin: AdminUser, manager: ManagerDep) -> list[UserOut]:
    """Every user (admins only)."""
    return [UserOut.of(u) for u in await manager.auth.list_users()]


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, _admin: AdminUser, manager: ManagerDep) -> UserOut:
    """Add a user (admins only)."""
    view = await manager.auth.create_user(
        body.username, role=body.role, password=body.password, display_name=body.display_name
    )
    return UserOut.of(view)


@router.delete("/users/{user_ref}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_ref: str, _admin: AdminUser, manager: ManagerDep) -> Response:
    """Remove a user (admins only)."""
    await manager.auth.delete_user(user_ref)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
