"""AI tasks: create, list, show, start, cancel, done, reset, delete, extra review sessions."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response, status

from atelier.api.deps import CurrentUser, ManagerDep
from atelier.api.schemas.tasks import CancelIn, DoneIn, ReviewIn, TaskEdit, TaskIn, TaskOut
from atelier.core.tasks.system import tasks_of

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_task(body: TaskIn, user: CurrentUser, manager: ManagerDep) -> TaskOut:
    """A new task: a draft, or queued at once with `start: true`."""
    return TaskOut.of(await tasks_of(manager).tasks.create(user, body.request()))


@router.get("")
async def list_tasks(
    user: CurrentUser,
    manager: ManagerDep,
    workspace_id: str | None = Query(None, alias="workspaceId"),
    status_filter: list[str] | None = Query(None, alias="status"),
) -> list[TaskOut]:
    """Your tasks (every task for admins), newest first."""
    views = await tasks_of(manager).tasks.list(
        user, workspace_id=workspace_id, status=status_filter
    )
    return [TaskOut.of(v) for v in views]


@router.get("/{task_id}")
async def get_task(task_id: str, user: CurrentUser, manager: ManagerDep) -> TaskOut:
    """One task with its sessions and tracked progress."""
    return TaskOut.of(await tasks_of(manager).tasks.get(user, task_id))


@router.patch("/{task_id}")
async def edit_task(
    task_id: str, body: TaskEdit, user: CurrentUser, manager: ManagerDep
) -> TaskOut:
    """Edit a draft."""
    fields = body.model_dump(exclude_unset=True)
    return TaskOut.of(await tasks_of(manager).tasks.update(user, task_id, **fields))


@router.post("/{task_id}/start")
async def start_task(task_id: str, user: CurrentUser, manager: ManagerDep) -> TaskOut:
    """Queue a draft (or a failed task again)."""
    return TaskOut.of(await tasks_of(manager).tasks.start(user, task_id))


@router.post("/{task_id}/cancel")
async def cancel_task(
    task_id: str, user: CurrentUser, manager: ManagerDep, body: CancelIn | None = None
) -> TaskOut:
    """Cancel; the sandbox is kept unless `sandbox` says stop or destroy."""
    choice = body.sandbox if body else "keep"
    return TaskOut.of(await tasks_of(manager).tasks.cancel(user, task_id, choice))


@router.post("/{task_id}/done")
async def finish_task(
    task_id: str, user: CurrentUser, manager: ManagerDep, body: DoneIn | None = None
) -> TaskOut:
    """Mark done, optionally pushing the branch."""
    body = body or DoneIn()
    return TaskOut.of(await tasks_of(manager).tasks.done(user, task_id, body.push, body.sandbox))


@router.post("/{task_id}/reset")
async def reset_task(task_id: str, user: CurrentUser, manager: ManagerDep) -> TaskOut:
    """Back to draft (sandbox, branch and sessions are forgotten)."""
    return TaskOut.of(await tasks_of(manager).tasks.reset(user, task_id))


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_task(task_id: str, user: CurrentUser, manager: ManagerDep) -> Response:
    """Delete a task that is not active."""
    await tasks_of(manager).tasks.delete(user, task_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{task_id}/sessions", status_code=status.HTTP_202_ACCEPTED)
async def add_session(
    task_id: str, body: ReviewIn, user: CurrentUser, manager: ManagerDep
) -> TaskOut:
    """Run a review session (secondary template) on the task's sandbox."""
    return TaskOut.of(await tasks_of(manager).tasks.add_review(user, task_id, body.request()))
