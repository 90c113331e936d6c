"""Templates, Images and System: catalogues and host state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from starlette.requests import Request
from starlette.responses import HTMLResponse

from atelier.web.routing import DashboardDep, ViewerDep
from atelier.web.views._page import page, router

routes = router()


@routes.get("/templates")
async def templates(
    request: Request,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    workspace: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Prompt templates and their effort presets (global, or merged for a workspace)."""
    found = await dashboard.overview.templates(viewer, workspace or None)
    workspaces = await dashboard.overview.workspaces(viewer)
    return page(
        request,
        viewer,
        "templates.html",
        active="templates",
        templates=found,
        workspaces=workspaces,
        workspace=workspace,
    )


@routes.get("/images")
async def images(request: Request, viewer: ViewerDep, dashboard: DashboardDep) -> HTMLResponse:
    """Built images and guest kernels."""
    built, kernels = dashboard.system.images()
    return page(request, viewer, "images.html", active="images", images=built, kernels=kernels)


@routes.get("/system")
async def system(request: Request, viewer: ViewerDep, dashboard: DashboardDep) -> HTMLResponse:
    """Host health, drivers, storage, caches and the spawn queue."""
    facts = await dashboard.system.facts(viewer)
    return page(request, viewer, "system.html", active="system", facts=facts)


@routes.get("/ui/frag/system")
async def system_fragment(
    request: Request, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """The System page body (refreshed every 30 s while shown)."""
    facts = await dashboard.system.facts(viewer)
    return page(request, viewer, "partials/system_body.html", facts=facts)
