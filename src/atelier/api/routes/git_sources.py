"""Git sources: credentials for private repositories (write-only secrets)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from atelier.api.deps import CurrentUser
from atelier.api.routes.workspaces import WorkspacesDep
from atelier.api.schemas.workspaces import GitSourceIn, GitSourceOut

router = APIRouter(prefix="/api/git-sources", tags=["git sources"])


@router.get("")
async def list_sources(user: CurrentUser, ws: WorkspacesDep) -> list[GitSourceOut]:
    """The caller's git sources (never their secrets)."""
    return [GitSourceOut.of(v) for v in await ws.sources.list(user)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_source(body: GitSourceIn, user: CurrentUser, ws: WorkspacesDep) -> GitSourceOut:
    """Add a GitHub token, HTTPS credentials or an SSH key."""
    data = body.model_dump(by_alias=True, exclude_none=True)
    return GitSourceOut.of(await ws.sources.create(user, data))


@router.get("/{ref}")
async def get_source(ref: str, user: CurrentUser, ws: WorkspacesDep) -> GitSourceOut:
    """One source by id or name."""
    return GitSourceOut.of(await ws.sources.get(user, ref))


@router.put("/{ref}")
async def update_source(
    ref: str, body: GitSourceIn, user: CurrentUser, ws: WorkspacesDep
) -> GitSourceOut:
    """Change a source; a `secret` given replaces the stored one."""
    data = body.model_dump(by_alias=True, exclude_unset=True)
    return GitSourceOut.of(await ws.sources.update(user, ref, data))


@router.delete("/{ref}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_source(ref: str, user: CurrentUser, ws: WorkspacesDep) -> Response:
    """Remove a source."""
    await ws.sources.delete(user, ref)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
