"""API tokens of the caller."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response, status

from atelier.api.deps import CurrentUser, ManagerDep
from atelier.api.schemas.users import TokenCreate, TokenCreated, TokenOut

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


@router.get("")
async def list_tokens(user: CurrentUser, manager: ManagerDep) -> list[TokenOut]:
    """The caller's tokens (metadata only)."""
    return [TokenOut.of(t) for t in await manager.auth.list_tokens(user.user_id)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_token(body: TokenCreate, user: CurrentUser, manager: ManagerDep) -> TokenCreated:
    """A new token for the caller; the secret is returned only here."""
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    view, raw = await manager.auth.create_token(user.user_id, body.name, expires_in=expires)
    return TokenCreated(**TokenOut.of(view).model_dump(), token=raw)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: str, user: CurrentUser, manager: ManagerDep) -> Response:
    """Revoke one of the caller's tokens."""
    await manager.auth.revoke_token(user, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
