"""Sandboxes: the card list, creation, lifecycle actions and members."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Form, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from atelier.web.routing import DashboardDep, ViewerDep
from atelier.web.sources.sandboxes import SandboxAction
from atelier.web.views._page import done, page, router

routes = router()
StatusFilter = Literal["running", "queued", "creating", "stopped", "paused", "error"]
PAST = {
    "stop": "Stopped",
    "start": "Started",
    "restart": "Restarted",
    "destroy": "Destroyed",
    "pause": "Paused",
    "resume": "Resumed",
}
ONGOING = {
    "stop": "Stopping",
    "start": "Starting",
    "restart": "Restarting",
    "destroy": "Destroying",
    "pause": "Pausing",
    "resume": "Resuming",
}


@routes.get("/sandboxes")
async def sandboxes(
    request: Request,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    status: Annotated[StatusFilter | None, Query()] = None,
) -> HTMLResponse:
    """Every visible sandbox as cards, with the create form."""
    cards = await dashboard.sandboxes.cards(viewer, status)
    workspaces = await dashboard.overview.workspaces(viewer)
    return page(
        request,
        viewer,
        "sandboxes.html",
        active="sandboxes",
        cards=cards,
        status_filter=status,
        images=dashboard.sandboxes.images(),
        workspaces=workspaces,
        defaults=dashboard.manager.config.sandbox,
    )


@routes.get("/ui/frag/sandboxes")
async def sandbox_list(
    request: Request,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    status: Annotated[StatusFilter | None, Query()] = None,
) -> HTMLResponse:
    """The card grid alone (refreshed by `sandboxes` events)."""
    cards = await dashboard.sandboxes.cards(viewer, status)
    return page(request, viewer, "partials/sandbox_cards.html", cards=cards, empty=None)


@routes.post("/sandboxes")
async def create(request: Request, viewer: ViewerDep, dashboard: DashboardDep) -> Response:
    """Queue a new sandbox from the form."""
    form = await request.form()
    fields = ("image", "name", "vcpus", "memory_mb", "disk_gb", "workspace_id")
    card = await dashboard.sandboxes.create(viewer, {k: form.get(k) for k in fields})
    return done(request, viewer, f"Sandbox {card.label} is queued", back=f"/sandboxes/{card.id}")


@routes.post("/sandboxes/{sandbox_id}/do/{action}")
async def act(
    request: Request,
    sandbox_id: str,
    action: SandboxAction,
    viewer: ViewerDep,
    dashboard: DashboardDep,
) -> Response:
    """Stop, start, restart, pause, resume or destroy."""
    finished = await dashboard.sandboxes.act(viewer, sandbox_id, action)
    words = PAST[action] if finished else ONGOING[action] + "…"
    back = "/sandboxes" if action == "destroy" else f"/sandboxes/{sandbox_id}"
    return done(request, viewer, f"{words} {sandbox_id}", back=back)


@routes.post("/sandboxes/{sandbox_id}/members")
async def add_member(
    request: Request,
    sandbox_id: str,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
) -> Response:
    """Share the sandbox with a user."""
    await dashboard.sandboxes.add_member(viewer, sandbox_id, username)
    return done(
        request, viewer, f"{username} can now use {sandbox_id}", back=f"/sandboxes/{sandbox_id}"
    )


@routes.post("/sandboxes/{sandbox_id}/members/{username}/remove")
async def remove_member(
    request: Request, sandbox_id: str, username: str, viewer: ViewerDep, dashboard: DashboardDep
) -> Response:
    """Take a member's access away."""
    await dashboard.sandboxes.remove_member(viewer, sandbox_id, username)
    return done(request, viewer, f"{username} was removed", back=f"/sandboxes/{sandbox_id}")
