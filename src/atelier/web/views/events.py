"""The dashboard's live stream: bus events the viewer may see, as coarse topics.

Each event becomes an SSE message named after its topic (`sandboxes`, `tasks`, `attention`,
`workspaces`, `dev`, `templates`); page sections re-fetch themselves on their topic
(events only invalidate; the server-rendered fragment is the truth). A `refresh` message
asks for everything after events were dropped. The session is re-checked every minute, so a
revoked session stops receiving events.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request

from atelier.core.events import Event
from atelier.web.routing import DashboardDep, ViewerDep
from atelier.web.views._page import router

routes = router()
TOPICS = {
    "sandbox": "sandboxes",
    "task": "tasks",
    "attention": "attention",
    "workspace": "workspaces",
    "prebuild": "workspaces",
    "dev": "dev",
    "template": "templates",
    "sandbox.dev": "dev",  # the dev-command service's state changes
}
RECHECK_S = 60.0


def topic_of(event: Event) -> str | None:
    """The dashboard topic of a bus event (None: not shown)."""
    if event.type == "stream.lagged":
        return "refresh"
    return TOPICS.get(event.type) or TOPICS.get(event.type.split(".", 1)[0])


@routes.get("/ui/events")
async def events(
    request: Request, viewer: ViewerDep, dashboard: DashboardDep
) -> EventSourceResponse:
    """Server-Sent Events for the signed-in user."""
    subscription = dashboard.manager.bus.subscribe()
    sessions = dashboard.sessions

    async def stream() -> AsyncIterator[dict[str, str]]:
        try:
            yield {"event": "hello", "data": json.dumps({"user": viewer.username})}
            while True:
                try:
                    event = await asyncio.wait_for(subscription.get(), RECHECK_S)
                except TimeoutError:
                    request.state.viewer = None
                    if await sessions.viewer(request) is None:
                        yield {"event": "signed-out", "data": "{}"}
                        return
                    continue
                topic = topic_of(event)
                if topic is None or not event.visible_to(viewer.user_id, viewer.is_admin):
                    continue
                yield {"event": topic, "id": str(event.id), "data": json.dumps(event.to_dict())}
        finally:
            subscription.close()

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})
