"""Dev commands of a running sandbox: status, start/stop/restart, and logs streamed live."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query
from sse_starlette.sse import EventSourceResponse

from atelier.api.deps import CurrentUser
from atelier.api.routes.workspaces import WorkspacesDep
from atelier.api.schemas.workspaces import DevCommandOut, LogChunkOut

router = APIRouter(prefix="/api/sandboxes/{sandbox_id}/dev", tags=["dev commands"])


@router.get("")
async def list_dev(sandbox_id: str, user: CurrentUser, ws: WorkspacesDep) -> list[DevCommandOut]:
    """The sandbox's dev commands with state and URL."""
    return [DevCommandOut.of(s) for s in await ws.dev.list(user, sandbox_id)]


@router.get("/{name}")
async def status(sandbox_id: str, name: str, user: CurrentUser, ws: WorkspacesDep) -> DevCommandOut:
    """One dev command."""
    return DevCommandOut.of(await ws.dev.status(user, sandbox_id, name))


@router.post("/{name}/start")
async def start(sandbox_id: str, name: str, user: CurrentUser, ws: WorkspacesDep) -> DevCommandOut:
    """Start it (its URL is published when it has a port)."""
    return DevCommandOut.of(await ws.dev.start(user, sandbox_id, name))


@router.post("/{name}/stop")
async def stop(sandbox_id: str, name: str, user: CurrentUser, ws: WorkspacesDep) -> DevCommandOut:
    """Stop it and withdraw its URL."""
    return DevCommandOut.of(await ws.dev.stop(user, sandbox_id, name))


@router.post("/{name}/restart")
async def restart(
    sandbox_id: str, name: str, user: CurrentUser, ws: WorkspacesDep
) -> DevCommandOut:
    """Stop, then start."""
    return DevCommandOut.of(await ws.dev.restart(user, sandbox_id, name))


@router.get("/{name}/logs", response_model=None)
async def logs(
    sandbox_id: str,
    name: str,
    user: CurrentUser,
    ws: WorkspacesDep,
    offset: int | None = Query(None, ge=0),
    tail: int | None = Query(None, ge=0, le=1 << 20, description="last N bytes"),
    follow: bool = Query(False, description="stream over SSE as the command writes"),
    lines: int = Query(100, ge=0, le=10000, description="with follow: lines of history first"),
) -> LogChunkOut | EventSourceResponse:
    """The output (bytes from `offset`, or the last `tail`); `follow` streams SSE `log` events."""
    if not follow:
        text, next_offset, size = await ws.dev.logs(
            user, sandbox_id, name, offset=offset, tail=tail
        )
        return LogChunkOut(text=text, next_offset=next_offset, size=size)
    pieces = ws.dev.follow(user, sandbox_id, name, lines=lines)

    async def events() -> AsyncIterator[dict[str, str]]:
        async for text in pieces:
            yield {"event": "log", "data": json.dumps({"text": text})}

    return EventSourceResponse(events(), ping=15)
