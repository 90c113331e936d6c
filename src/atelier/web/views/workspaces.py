"""Workspaces: list, definition editor with live validation, secrets, prebuilds and logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from atelier.errors import ValidationError
from atelier.web.routing import DashboardDep, ViewerDep
from atelier.web.sources import WorkspaceSource
from atelier.web.views._page import done, go, page, router

routes = router()
Definition = Annotated[str, Form(max_length=200_000)]


def _source(dashboard: DashboardDep) -> WorkspaceSource:
    if dashboard.sources.workspaces is None:
        raise ValidationError("workspaces are not available on this manager yet")
    return dashboard.sources.workspaces


@routes.get("/workspaces")
async def workspaces(request: Request, viewer: ViewerDep, dashboard: DashboardDep) -> HTMLResponse:
    """Every workspace with its prebuild state."""
    found = await dashboard.overview.workspaces(viewer)
    return page(request, viewer, "workspaces.html", active="workspaces", workspaces=found)


@routes.get("/workspaces/new")
async def new(request: Request, viewer: ViewerDep, dashboard: DashboardDep) -> HTMLResponse:
    """An empty definition editor."""
    _source(dashboard)
    return page(request, viewer, "workspace.html", active="workspaces", detail=None, problems=[])


@routes.get("/workspaces/{workspace_id}")
async def detail(
    request: Request, workspace_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """A workspace's editor, secrets, prebuild and log."""
    found = await _source(dashboard).get(viewer, workspace_id)
    return page(request, viewer, "workspace.html", active="workspaces", detail=found, problems=[])


@routes.post("/ui/workspaces/validate")
async def validate(
    request: Request, viewer: ViewerDep, dashboard: DashboardDep, definition: Definition = ""
) -> HTMLResponse:
    """Validation messages for the editor (sent as the user types)."""
    problems = await _source(dashboard).validate(viewer, definition)
    return page(request, viewer, "partials/problems.html", problems=problems, checked=True)


@routes.post("/workspaces")
async def create(
    request: Request, viewer: ViewerDep, dashboard: DashboardDep, definition: Definition
) -> Response:
    """Save a new workspace."""
    saved = await _source(dashboard).save(viewer, None, definition)
    return go(request, f"/workspaces/{saved.id}")


@routes.post("/workspaces/{workspace_id}")
async def save(
    request: Request,
    workspace_id: str,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    definition: Definition,
) -> Response:
    """Replace a workspace's definition."""
    await _source(dashboard).save(viewer, workspace_id, definition)
    return done(request, viewer, "Saved", back=f"/workspaces/{workspace_id}")


@routes.post("/workspaces/{workspace_id}/secrets")
async def set_secret(
    request: Request,
    workspace_id: str,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    name: Annotated[str, Form(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")],
    value: Annotated[str, Form(max_length=65536)] = "",
    delete: Annotated[bool, Form()] = False,
) -> Response:
    """Write (or delete) a secret; its value is never shown again."""
    await _source(dashboard).set_secret(viewer, workspace_id, name, None if delete else value)
    words = f"Secret {name} deleted" if delete else f"Secret {name} saved"
    return done(request, viewer, words, back=f"/workspaces/{workspace_id}")


@routes.post("/workspaces/{workspace_id}/rebuild")
async def rebuild(
    request: Request, workspace_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> Response:
    """Queue a new prebuild."""
    await _source(dashboard).rebuild(viewer, workspace_id)
    return done(request, viewer, "Prebuild queued", back=f"/workspaces/{workspace_id}")


@routes.get("/ui/frag/workspaces/{workspace_id}/logs")
async def logs(
    request: Request,
    workspace_id: str,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """The prebuild log from `offset` (the pane polls while a build runs)."""
    chunk = await _source(dashboard).logs(viewer, workspace_id, offset)
    return page(request, viewer, "partials/build_log.html", workspace_id=workspace_id, chunk=chunk)
