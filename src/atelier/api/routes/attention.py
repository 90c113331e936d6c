"""The attention feed: agents' permission requests and questions, answered from here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response, status

from atelier.api.deps import CurrentUser, ManagerDep
from atelier.api.schemas.tasks import AttentionReply
from atelier.core.tasks.system import tasks_of

router = APIRouter(prefix="/api/attention", tags=["attention"])


@router.get("")
async def list_attention(
    user: CurrentUser,
    manager: ManagerDep,
    sandbox_id: str | None = Query(None, alias="sandboxId"),
    task_id: str | None = Query(None, alias="taskId"),
) -> list[dict[str, Any]]:
    """Pending items of the sandboxes you may see, oldest first."""
    items = await tasks_of(manager).attention.pending(user, sandbox_id=sandbox_id, task_id=task_id)
    return [i.to_json() for i in items]


@router.post("/{item_id}/reply", status_code=status.HTTP_204_NO_CONTENT)
async def reply(
    item_id: str, body: AttentionReply, user: CurrentUser, manager: ManagerDep
) -> Response:
    """Permissions: once, always or reject. Questions: answer (one list per question) or skip."""
    await tasks_of(manager).attention.answer(user, item_id, body.reply, body.answers, body.message)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
