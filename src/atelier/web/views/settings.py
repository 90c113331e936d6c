"""Settings: API tokens, SSH keys, notifications, OpenCode config, git sources."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from atelier.web.routing import DashboardDep, ViewerDep, is_htmx
from atelier.web.views._page import done, page, router

routes = router()


@routes.get("/settings")
async def settings(request: Request, viewer: ViewerDep, dashboard: DashboardDep) -> HTMLResponse:
    """Everything about the signed-in user."""
    data = await dashboard.account.settings(viewer)
    return page(request, viewer, "settings.html", active="settings", data=data, new_token=None)


@routes.post("/settings/tokens")
async def create_token(
    request: Request,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    name: Annotated[str, Form(min_length=1, max_length=64)],
    days: Annotated[int | None, Form(ge=1, le=3650)] = None,
) -> Response:
    """Create an API token and show its secret once."""
    raw = await dashboard.account.create_token(viewer, name.strip(), days)
    data = await dashboard.account.settings(viewer)
    template = "partials/tokens.html" if is_htmx(request) else "settings.html"
    return page(request, viewer, template, active="settings", data=data, new_token=raw)


@routes.post("/settings/tokens/{token_id}/revoke")
async def revoke_token(
    request: Request, token_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> Response:
    """Revoke an API token."""
    await dashboard.account.revoke_token(viewer, token_id)
    return done(request, viewer, "Token revoked", back="/settings")


@routes.post("/settings/ssh-keys")
async def add_key(
    request: Request,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    public_key: Annotated[str, Form(min_length=20, max_length=16384)],
    name: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    """Register an SSH public key."""
    key = await dashboard.account.add_key(viewer, public_key, name)
    return done(request, viewer, f"Key {key.name} added ({key.fingerprint})", back="/settings")


@routes.post("/settings/ssh-keys/{key_id}/remove")
async def remove_key(
    request: Request, key_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> Response:
    """Remove an SSH key."""
    await dashboard.account.remove_key(viewer, key_id)
    return done(request, viewer, "Key removed", back="/settings")


@routes.post("/settings/opencode")
async def save_opencode(
    request: Request,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    text: Annotated[str, Form(max_length=200_000)],
) -> Response:
    """Save the OpenCode configuration."""
    problems = await dashboard.account.save_opencode(viewer, text)
    if problems:
        return done(
            request, viewer, "Not saved: " + "; ".join(problems), back="/settings", kind="error"
        )
    return done(request, viewer, "OpenCode configuration saved", back="/settings")


@routes.post("/settings/git-sources/{source_id}/remove")
async def remove_git_source(
    request: Request, source_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> Response:
    """Disconnect a git source."""
    await dashboard.account.remove_git_source(viewer, source_id)
    return done(request, viewer, "Git source disconnected", back="/settings")
