"""The event stream (SSE): state changes and spawn steps the caller may see."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from sse_starlette.sse import EventSourceResponse

from atelier.api.deps import CurrentUser, ManagerDep

router = APIRouter(prefix="/api", tags=["events"])


@router.get("/events")
async def events(user: CurrentUser, manager: ManagerDep) -> EventSourceResponse:
    """Server-Sent Events; each `data` is `{"id", "type", "at", "data"}`."""
    subscription = manager.bus.subscribe()

    async def stream() -> AsyncIterator[dict[str, str]]:
        try:
            yield {"event": "hello", "data": json.dumps({"user": user.username})}
            while True:
                event = await subscription.get()
                if event.visible_to(user.user_id, user.is_admin):
                    yield {
                        "event": event.type,
                        "id": str(event.id),
                        "data": json.dumps(event.to_dict()),
                    }
        except asyncio.CancelledError:
            raise
        finally:
            subscription.close()

    return EventSourceResponse(stream(), ping=15)
