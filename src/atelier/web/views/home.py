"""Mission control: attention, active tasks, running sandboxes, dev servers, start working."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Form
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from atelier.errors import ValidationError
from atelier.web.routing import DashboardDep, ViewerDep
from atelier.web.sources.models import AttentionAnswer
from atelier.web.views._page import done, page, router

routes = router()
Reply = Literal["once", "always", "reject", "answer", "skip"]


def _answers(form: FormData, count: int) -> tuple[tuple[str, ...], ...]:
    """Per question: the picked option labels (`q<i>`), then the typed text (`q<i>_text`)."""
    found = []
    for i in range(count):
        picked = [str(v) for v in form.getlist(f"q{i}") if str(v)]
        typed = str(form.get(f"q{i}_text") or "").strip()
        found.append(tuple(picked + ([typed] if typed else [])))
    return tuple(found)


@routes.get("/")
async def home(request: Request, viewer: ViewerDep, dashboard: DashboardDep) -> HTMLResponse:
    """Mission control."""
    mission = await dashboard.overview.mission(viewer)
    return page(request, viewer, "home.html", active="home", mission=mission)


@routes.get("/ui/frag/attention")
async def attention(request: Request, viewer: ViewerDep, dashboard: DashboardDep) -> HTMLResponse:
    """The attention feed (refreshed by `attention` events)."""
    found = await dashboard.overview.attention(viewer)
    return page(request, viewer, "partials/attention.html", attention=found)


@routes.get("/ui/frag/attention-count")
async def attention_count(
    request: Request, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """The navigation badge."""
    found = await dashboard.overview.attention(viewer)
    return page(request, viewer, "partials/attention_count.html", count=len(found.items))


@routes.get("/ui/frag/active-tasks")
async def active_tasks(
    request: Request, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """Active tasks with progress."""
    found = await dashboard.overview.active_tasks(viewer)
    return page(request, viewer, "partials/tasks_active.html", tasks=found)


@routes.get("/ui/frag/running")
async def running(request: Request, viewer: ViewerDep, dashboard: DashboardDep) -> HTMLResponse:
    """Running sandboxes."""
    found = await dashboard.overview.running(viewer)
    return page(
        request, viewer, "partials/sandbox_grid.html", cards=found, empty="Nothing is running."
    )


@routes.get("/ui/frag/dev-servers")
async def dev_servers(request: Request, viewer: ViewerDep, dashboard: DashboardDep) -> HTMLResponse:
    """Running dev servers with their URLs."""
    found = await dashboard.overview.dev_servers(viewer)
    return page(request, viewer, "partials/dev_servers.html", servers=found)


@routes.post("/attention/{item_id}")
async def answer(
    request: Request,
    item_id: str,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    reply: Annotated[Reply, Form()],
    questions: Annotated[int, Form(ge=0, le=20)] = 0,
) -> Response:
    """Answer a permission or question inline."""
    source = dashboard.sources.attention
    if source is None:
        raise ValidationError("attention items are not available on this manager yet")
    answers = _answers(await request.form(), questions)
    await source.answer(viewer, item_id, AttentionAnswer(reply, answers))
    said = {"once": "Allowed once", "always": "Always allowed", "reject": "Denied"}
    return done(request, viewer, said.get(reply, "Answer sent"), back="/")
