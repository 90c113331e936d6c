"""One sandbox: tools, web terminal, metrics, git status, dev commands, console, members."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from atelier.errors import AtelierError, ValidationError
from atelier.web.routing import DashboardDep, ViewerDep
from atelier.web.views._page import done, page, router

routes = router()


@routes.get("/sandboxes/{sandbox_id}")
async def detail(
    request: Request, sandbox_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """The sandbox page with its terminal."""
    card = await dashboard.sandboxes.card(viewer, sandbox_id)
    ssh = dashboard.manager.config.ssh
    gateway = {"host": ssh.public_host, "port": ssh.port} if ssh.enabled else None
    return page(request, viewer, "sandbox.html", active="sandboxes", card=card, ssh=gateway)


@routes.get("/ui/frag/sandboxes/{sandbox_id}/head")
async def head(
    request: Request, sandbox_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """Status, tools and actions (refreshed by `sandboxes` events)."""
    card = await dashboard.sandboxes.card(viewer, sandbox_id)
    return page(request, viewer, "partials/sandbox_head.html", card=card)


@routes.get("/ui/frag/sandboxes/{sandbox_id}/card")
async def card(
    request: Request, sandbox_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """One card of the grid."""
    found = await dashboard.sandboxes.card(viewer, sandbox_id)
    return page(request, viewer, "partials/sandbox_card.html", card=found)


@routes.get("/ui/frag/sandboxes/{sandbox_id}/metrics")
async def metrics(
    request: Request, sandbox_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """CPU, memory and disk of a running guest."""
    try:
        found, problem = await dashboard.sandboxes.metrics(viewer, sandbox_id), None
    except AtelierError as exc:
        found, problem = None, exc.message
    return page(request, viewer, "partials/metrics.html", metrics=found, problem=problem)


@routes.get("/ui/frag/sandboxes/{sandbox_id}/git")
async def git(
    request: Request, sandbox_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """Git status of the workspace's repositories."""
    repos, problem = await dashboard.overview.git(viewer, sandbox_id)
    return page(request, viewer, "partials/git.html", repos=repos, problem=problem)


@routes.get("/ui/frag/sandboxes/{sandbox_id}/console")
async def console(
    request: Request, sandbox_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """The last lines of the VM console (boot log)."""
    lines = await dashboard.manager.sandboxes.console_log(viewer, sandbox_id, 80)
    return page(request, viewer, "partials/console.html", lines=lines)


@routes.get("/ui/frag/sandboxes/{sandbox_id}/dev")
async def dev_commands(
    request: Request, sandbox_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """Dev commands with status, URL and log panes (or why they cannot be read now)."""
    source = dashboard.sources.dev_commands
    commands, problem = None, None
    if source is not None:
        try:
            commands = await source.commands(viewer, sandbox_id)
        except AtelierError as exc:
            problem = exc.message  # e.g. the sandbox is stopped: its guest cannot answer
    return page(
        request,
        viewer,
        "partials/dev_commands.html",
        sandbox_id=sandbox_id,
        commands=commands,
        problem=problem,
    )


@routes.get("/ui/frag/sandboxes/{sandbox_id}/dev/{name}/logs")
async def dev_logs(
    request: Request,
    sandbox_id: str,
    name: str,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """New output of a dev command since `offset` (the pane polls while it runs)."""
    source = dashboard.sources.dev_commands
    if source is None:
        raise ValidationError("dev commands are not available on this manager yet")
    chunk = await source.logs(viewer, sandbox_id, name, offset)
    return page(
        request, viewer, "partials/dev_log.html", sandbox_id=sandbox_id, name=name, chunk=chunk
    )


@routes.post("/sandboxes/{sandbox_id}/dev/{name}/{action}")
async def dev_action(
    request: Request,
    sandbox_id: str,
    name: str,
    action: Literal["start", "stop"],
    viewer: ViewerDep,
    dashboard: DashboardDep,
) -> Response:
    """Start or stop a dev command."""
    source = dashboard.sources.dev_commands
    if source is None:
        raise ValidationError("dev commands are not available on this manager yet")
    await (source.start if action == "start" else source.stop)(viewer, sandbox_id, name)
    verb = "Started" if action == "start" else "Stopped"
    return done(request, viewer, f"{verb} {name}", back=f"/sandboxes/{sandbox_id}")
