"""Web Push endpoints, the service worker and the web app manifest."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from atelier.web.render import STATIC
from atelier.web.routing import DashboardDep, ViewerDep
from atelier.web.views._page import done, router

routes = router()


class Keys(BaseModel):
    """A subscription's keys, as `PushSubscription.toJSON()` gives them."""

    model_config = ConfigDict(extra="ignore")

    p256dh: str = Field(min_length=20, max_length=200)
    auth: str = Field(min_length=10, max_length=64)


class SubscriptionIn(BaseModel):
    """`PushSubscription.toJSON()` from the browser."""

    model_config = ConfigDict(extra="ignore")

    endpoint: str = Field(min_length=10, max_length=2048)
    keys: Keys


class EndpointIn(BaseModel):
    """Which browser to unsubscribe."""

    endpoint: str = Field(min_length=10, max_length=2048)


@routes.get("/ui/push/key")
async def key(_viewer: ViewerDep, dashboard: DashboardDep) -> JSONResponse:
    """The VAPID public key browsers subscribe with."""
    return JSONResponse({"publicKey": dashboard.push.vapid.public_key})


@routes.post("/ui/push/subscriptions")
async def subscribe(
    request: Request, body: SubscriptionIn, viewer: ViewerDep, dashboard: DashboardDep
) -> JSONResponse:
    """Store this browser's subscription for the signed-in user."""
    view = await dashboard.push.subscribe(
        viewer, body.endpoint, body.keys.p256dh, body.keys.auth, request.headers.get("user-agent")
    )
    return JSONResponse({"id": view.id, "service": view.service}, status_code=201)


@routes.post("/ui/push/unsubscribe")
async def unsubscribe(body: EndpointIn, viewer: ViewerDep, dashboard: DashboardDep) -> Response:
    """Forget this browser's subscription."""
    await dashboard.push.unsubscribe(viewer, body.endpoint)
    return Response(status_code=204)


@routes.post("/ui/push/subscriptions/{subscription_id}/remove")
async def remove(
    request: Request, subscription_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> Response:
    """Forget a subscribed browser (from the Settings list)."""
    await dashboard.push.unsubscribe(viewer, subscription_id)
    return done(request, viewer, "Browser removed", back="/settings")


@routes.post("/ui/push/test")
async def test(request: Request, viewer: ViewerDep, dashboard: DashboardDep) -> Response:
    """Send a test notification to the caller's browsers."""
    sent = await dashboard.push.send_test(viewer)
    words = f"Test notification sent to {sent} browser(s)" if sent else "No browser accepted it"
    return done(request, viewer, words, back="/settings", kind="ok" if sent else "error")


@routes.get("/sw.js")
async def service_worker() -> Response:
    """The service worker, served at the root so it controls every page."""
    return FileResponse(
        STATIC / "sw.js",
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )


@routes.get("/manifest.webmanifest")
async def manifest() -> JSONResponse:
    """Makes the dashboard installable on phones."""
    data: dict[str, Any] = {
        "name": "Atelier",
        "short_name": "Atelier",
        "start_url": "/",
        "display": "standalone",
        "background_color": "#111318",
        "theme_color": "#111318",
        "icons": [
            {"src": "/ui/static/icon.svg", "sizes": "any", "type": "image/svg+xml"},
            {"src": "/ui/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
        ],
    }
    return JSONResponse(data, media_type="application/manifest+json")
