"""Tasks: list and board by status, creation, detail with sessions, actions and reviews."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Form, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from atelier.errors import ValidationError
from atelier.web.routing import DashboardDep, ViewerDep
from atelier.web.sources import TaskAction, TaskDraft, TaskSource
from atelier.web.views._page import done, go, page, router

routes = router()
View = Literal["list", "board"]
DONE_WORDS = {
    "start": "Started",
    "done": "Marked done",
    "cancel": "Cancelled",
    "reset": "Back to draft",
    "delete": "Deleted",
}


def _source(dashboard: DashboardDep) -> TaskSource:
    if dashboard.sources.tasks is None:
        raise ValidationError("tasks are not available on this manager yet")
    return dashboard.sources.tasks


@routes.get("/tasks")
async def tasks(
    request: Request,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    view: Annotated[View, Query()] = "list",
    workspace: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The task list or board, with the create form."""
    board = await dashboard.overview.task_board(viewer, workspace or None)
    return page(
        request, viewer, "tasks.html", active="tasks", board=board, view=view, workspace=workspace
    )


@routes.get("/ui/frag/tasks")
async def task_list(
    request: Request,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    view: Annotated[View, Query()] = "list",
    workspace: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The list or board alone (refreshed by `tasks` events)."""
    board = await dashboard.overview.task_board(viewer, workspace or None)
    return page(request, viewer, "partials/task_list.html", board=board, view=view)


@routes.post("/tasks")
async def create(
    request: Request,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    title: Annotated[str, Form(min_length=1, max_length=200)],
    description: Annotated[str, Form(min_length=1, max_length=20000)],
    workspace_id: Annotated[str | None, Form(max_length=64)] = None,
    template_id: Annotated[str | None, Form(max_length=64)] = None,
    effort: Annotated[str | None, Form(max_length=64)] = None,
    context: Annotated[str, Form(max_length=20000)] = "",
    start: Annotated[bool, Form()] = False,
) -> Response:
    """Create a task (and start it when asked)."""
    draft = TaskDraft(
        title.strip(),
        description,
        workspace_id or None,
        template_id or None,
        effort or None,
        context,
        start,
    )
    task = await _source(dashboard).create(viewer, draft)
    return go(request, f"/tasks/{task.id}")


@routes.get("/tasks/{task_id}")
async def detail(
    request: Request, task_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """One task: sessions, todos, diff stat, reviews, actions."""
    task = await _source(dashboard).get(viewer, task_id)
    attention = await dashboard.overview.attention(viewer)
    mine = [a for a in attention.items if a.task_id == task_id]
    return page(request, viewer, "task.html", active="tasks", task=task, attention=mine)


@routes.get("/ui/frag/tasks/{task_id}")
async def detail_fragment(
    request: Request, task_id: str, viewer: ViewerDep, dashboard: DashboardDep
) -> HTMLResponse:
    """The task's body (refreshed by `tasks` events)."""
    task = await _source(dashboard).get(viewer, task_id)
    attention = await dashboard.overview.attention(viewer)
    mine = [a for a in attention.items if a.task_id == task_id]
    return page(request, viewer, "partials/task_body.html", task=task, attention=mine)


@routes.post("/tasks/{task_id}/do/{action}")
async def act(
    request: Request, task_id: str, action: TaskAction, viewer: ViewerDep, dashboard: DashboardDep
) -> Response:
    """Start, done, cancel, reset or delete."""
    await _source(dashboard).act(viewer, task_id, action)
    back = "/tasks" if action == "delete" else f"/tasks/{task_id}"
    return done(request, viewer, f"{DONE_WORDS[action]}: {task_id}", back=back)


@routes.post("/tasks/{task_id}/reviews")
async def review(
    request: Request,
    task_id: str,
    viewer: ViewerDep,
    dashboard: DashboardDep,
    template_id: Annotated[str, Form(min_length=1, max_length=64)],
) -> Response:
    """Run an extra review session on the task."""
    await _source(dashboard).add_review(viewer, task_id, template_id)
    return done(request, viewer, f"Review {template_id} started", back=f"/tasks/{task_id}")
