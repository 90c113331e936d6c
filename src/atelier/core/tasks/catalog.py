"""Stored session templates: global ones (admins) and workspace overrides, merged by id.

The rules (shape, merging, variables) are in `atelier.core.templates`; this module stores
templates per scope ("" = global, else a workspace id) and answers "which templates apply
here". Saving validates the template merged onto what it overrides, so an unknown prompt
variable or a missing effort is refused when it is written, never when a task starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atelier.core.auth import Principal
from atelier.core.events import EventBus
from atelier.core.tasks.workspaces import WorkspaceLookup
from atelier.core.templates import BUILTINS, SessionTemplate, TemplateSet, merge
from atelier.db import Database
from atelier.db.models import SessionTemplateRecord
from atelier.db.repos import opencode as repo
from atelier.errors import Forbidden, NotFound, ValidationError

GLOBAL = ""


class TemplateCatalog:
    """CRUD of stored templates and the merged sets tasks use."""

    def __init__(self, db: Database, workspaces: WorkspaceLookup, bus: EventBus) -> None:
        self._db = db
        self._workspaces = workspaces
        self._bus = bus

    async def _layers(self, workspace_id: str | None) -> tuple[list[dict[str, Any]], ...]:
        async with self._db.session() as session:
            global_rows = [dict(r.data) for r in await repo.templates(session, GLOBAL)]
            local_rows = (
                [dict(r.data) for r in await repo.templates(session, workspace_id)]
                if workspace_id
                else []
            )
        return global_rows, local_rows

    async def effective(self, workspace_id: str | None) -> TemplateSet:
        """Built-ins < global < the workspace's overrides (no access check: background use)."""
        global_rows, local_rows = await self._layers(workspace_id)
        return TemplateSet(tuple(merge(BUILTINS, global_rows, local_rows)))

    async def list(self, principal: Principal, workspace_id: str | None) -> list[SessionTemplate]:
        """The templates that apply (globally, or merged for a workspace the caller sees)."""
        if workspace_id is not None:
            await self._workspaces.get(principal, workspace_id)
        return list((await self.effective(workspace_id)).templates)

    async def get(
        self, principal: Principal, template_id: str, workspace_id: str | None
    ) -> SessionTemplate:
        templates = await self.list(principal, workspace_id)
        for template in templates:
            if template.id == template_id:
                return template
        raise NotFound(f"no template {template_id!r}", field="id")

    async def _check_edit(self, principal: Principal, workspace_id: str | None) -> str:
        if workspace_id is None:
            if not principal.is_admin:
                raise Forbidden("only an admin can change global templates")
            return GLOBAL
        await self._workspaces.get(principal, workspace_id)
        if not principal.is_admin and not await self._workspaces.can_edit(principal, workspace_id):
            raise Forbidden(f"you may not change workspace {workspace_id}'s templates")
        return workspace_id

    async def save(
        self,
        principal: Principal,
        template_id: str,
        data: Mapping[str, Any],
        workspace_id: str | None,
    ) -> SessionTemplate:
        """Create or replace a template (an override when it exists below this scope)."""
        scope = await self._check_edit(principal, workspace_id)
        stored = {**data, "id": template_id}
        global_rows, local_rows = await self._layers(workspace_id)
        if scope == GLOBAL:
            global_rows = [r for r in global_rows if r.get("id") != template_id] + [stored]
        else:
            local_rows = [r for r in local_rows if r.get("id") != template_id] + [stored]
        merged = TemplateSet(tuple(merge(BUILTINS, global_rows, local_rows)))
        result = merged.get(template_id)  # raises ValidationError for bad data
        async with self._db.session() as session:
            row = await repo.template(session, scope, template_id)
            if row is None:
                row = SessionTemplateRecord(scope=scope, template_id=template_id, data=stored)
                session.add(row)
            row.data, row.updated_by = stored, principal.user_id
        self._bus.publish("template.updated", {"id": template_id, "workspaceId": workspace_id})
        return result

    async def delete(
        self, principal: Principal, template_id: str, workspace_id: str | None
    ) -> None:
        """Drop a stored template or override (a built-in then shows through again)."""
        scope = await self._check_edit(principal, workspace_id)
        async with self._db.session() as session:
            row = await repo.template(session, scope, template_id)
            if row is None:
                where = "globally" if scope == GLOBAL else f"in workspace {workspace_id}"
                hint = (
                    "built-in templates cannot be deleted" if template_id in _BUILTIN_IDS else None
                )
                raise NotFound(f"no stored template {template_id!r} {where}", field="id", hint=hint)
            await session.delete(row)
        self._bus.publish("template.deleted", {"id": template_id, "workspaceId": workspace_id})


_BUILTIN_IDS = frozenset(t.id for t in BUILTINS)


def check_primary(template: SessionTemplate) -> None:
    """A task starts with a primary template."""
    if template.category != "primary":
        raise ValidationError(
            f"template {template.id!r} is a {template.category} template; a task starts with"
            " a primary one (e.g. implement)",
            field="templateId",
        )
