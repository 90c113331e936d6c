"""Prebuilds of a workspace: build, cancel, status with per-step progress, live logs, staleness."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query
from sse_starlette.sse import EventSourceResponse

from atelier.api.deps import CurrentUser
from atelier.api.routes.workspaces import WorkspacesDep
from atelier.api.schemas.workspaces import LogChunkOut, PrebuildOut, StalenessOut

router = APIRouter(prefix="/api/workspaces/{ref}", tags=["prebuilds"])


@router.post("/prebuild", status_code=202)
async def build(
    ref: str,
    user: CurrentUser,
    ws: WorkspacesDep,
    wait: bool = Query(False, description="answer once the build finished"),
    timeout: float = Query(3600, gt=0, le=7200),
) -> PrebuildOut:
    """Queue a prebuild (joins the one queued or running)."""
    view = await ws.prebuilds.trigger(user, ref)
    if wait:
        await ws.prebuilds.wait(view.id, timeout)
        view = await ws.prebuilds.get(user, ref, view.id)
    return PrebuildOut.of(view)


@router.post("/prebuild/cancel")
async def cancel(ref: str, user: CurrentUser, ws: WorkspacesDep) -> PrebuildOut | None:
    """Cancel the queued or running build; the last good prebuild stays in use."""
    view = await ws.prebuilds.cancel(user, ref)
    return PrebuildOut.of(view) if view is not None else None


@router.post("/prebuild/check")
async def check(
    ref: str,
    user: CurrentUser,
    ws: WorkspacesDep,
    rebuild: bool = Query(True, description="queue a rebuild when stale"),
) -> StalenessOut | None:
    """Compare the ready prebuild with the remote branches (and the definition) now."""
    result = await ws.prebuilds.check_visible(user, ref, rebuild=rebuild)
    return StalenessOut.of(result, rebuild and result.stale) if result is not None else None


@router.get("/prebuilds")
async def list_prebuilds(ref: str, user: CurrentUser, ws: WorkspacesDep) -> list[PrebuildOut]:
    """Every prebuild attempt, newest first."""
    return [PrebuildOut.of(v) for v in await ws.prebuilds.list(user, ref)]


@router.get("/prebuilds/{prebuild_id}")
async def get_prebuild(
    ref: str, prebuild_id: str, user: CurrentUser, ws: WorkspacesDep
) -> PrebuildOut:
    """One prebuild (`latest` for the newest) with its steps."""
    found = None if prebuild_id == "latest" else prebuild_id
    return PrebuildOut.of(await ws.prebuilds.get(user, ref, found))


@router.get("/prebuilds/{prebuild_id}/logs", response_model=None)
async def logs(
    ref: str,
    prebuild_id: str,
    user: CurrentUser,
    ws: WorkspacesDep,
    offset: int = Query(0, ge=0),
    follow: bool = Query(False, description="stream over SSE while the build runs"),
) -> LogChunkOut | EventSourceResponse:
    """The build log from `offset`; with `follow`, SSE `log` events as output arrives, then `end`."""
    found = None if prebuild_id == "latest" else prebuild_id
    if not follow:
        text, next_offset, done = await ws.prebuilds.logs(user, ref, found, offset)
        return LogChunkOut(text=text, next_offset=next_offset, done=done)
    pieces = ws.prebuilds.follow(user, ref, found, offset)

    async def events() -> AsyncIterator[dict[str, str]]:
        async for text, next_offset in pieces:
            yield {"event": "log", "data": json.dumps({"text": text, "offset": next_offset})}
        yield {"event": "end", "data": "{}"}

    return EventSourceResponse(events(), ping=15)
