"""Session templates: the built-ins, global ones and workspace overrides (merged by id)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response, status

from atelier.api.deps import CurrentUser, ManagerDep
from atelier.api.schemas.tasks import TemplateIn, TemplateOut
from atelier.core.tasks.system import tasks_of
from atelier.core.templates import VARIABLES

router = APIRouter(prefix="/api/session-templates", tags=["session templates"])
Workspace = Query(None, alias="workspaceId", description="a workspace's merged set or overrides")


@router.get("")
async def list_templates(
    user: CurrentUser, manager: ManagerDep, workspace_id: str | None = Workspace
) -> list[TemplateOut]:
    """The templates in effect, globally or for a workspace."""
    found = await tasks_of(manager).catalog.list(user, workspace_id)
    return [TemplateOut.of(t) for t in found]


@router.get("/variables")
async def template_variables(user: CurrentUser) -> dict[str, str]:
    """The `{variables}` prompts may use, with what each holds."""
    return VARIABLES


@router.get("/{template_id}")
async def get_template(
    template_id: str, user: CurrentUser, manager: ManagerDep, workspace_id: str | None = Workspace
) -> TemplateOut:
    """One template as it applies."""
    return TemplateOut.of(await tasks_of(manager).catalog.get(user, template_id, workspace_id))


@router.put("/{template_id}")
async def put_template(
    template_id: str,
    body: TemplateIn,
    user: CurrentUser,
    manager: ManagerDep,
    workspace_id: str | None = Workspace,
) -> TemplateOut:
    """Create or replace a global template (admins) or a workspace override."""
    saved = await tasks_of(manager).catalog.save(user, template_id, body.data(), workspace_id)
    return TemplateOut.of(saved)


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(
    template_id: str, user: CurrentUser, manager: ManagerDep, workspace_id: str | None = Workspace
) -> Response:
    """Remove a stored template or override."""
    await tasks_of(manager).catalog.delete(user, template_id, workspace_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
