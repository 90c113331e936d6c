"""Workspaces: definitions, validation, devcontainer import and write-only secrets.

A workspace is addressed by id or by the caller's own name. Create and replace take the
definition as the body (or `{"definition": …, "secretValues": {…}}` to set secret values in
the same call); responses never contain a secret value.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response, status
from starlette.requests import HTTPConnection

from atelier.api.deps import CurrentUser, ManagerDep
from atelier.api.schemas.workspaces import ImportIn, SecretIn, SecretOut, WorkspaceOut
from atelier.core.lifecycle import COUNTED
from atelier.core.workspaces.devcontainer import import_devcontainer
from atelier.core.workspaces.install import Workspaces
from atelier.core.workspaces.service import WorkspaceRecord
from atelier.errors import Unavailable, ValidationError

router = APIRouter(prefix="/api/workspaces", tags=["workspaces"])


def get_workspaces(connection: HTTPConnection) -> Workspaces:
    """The workspace subsystem attached by `install_workspaces`."""
    found = getattr(connection.app.state, "workspaces", None)
    if not isinstance(found, Workspaces):
        raise Unavailable(
            "workspaces are not set up on this manager", hint="see docs/workspaces.md"
        )
    return found


WorkspacesDep = Annotated[Workspaces, Depends(get_workspaces)]
Definition = Annotated[
    dict[str, Any], Body(description="the definition, or {definition, secretValues}")
]


def _split(body: dict[str, Any]) -> tuple[Any, dict[str, str] | None]:
    if "definition" in body:
        extra = sorted(set(body) - {"definition", "secretValues"})
        if extra:
            raise ValidationError(f"unknown field(s) {', '.join(extra)}", field=extra[0])
        definition, secrets = body["definition"], body.get("secretValues")
    else:
        definition = {k: v for k, v in body.items() if k != "secretValues"}
        secrets = body.get("secretValues")
    if secrets is not None and (
        not isinstance(secrets, dict) or not all(isinstance(v, str) for v in secrets.values())
    ):
        raise ValidationError("secretValues must map secret names to text", field="secretValues")
    return definition, secrets


async def _out(
    ws: Workspaces, record: WorkspaceRecord, counts: dict[str, int] | None = None
) -> WorkspaceOut:
    if counts is None:
        counts = await ws.workspaces.sandbox_counts([s.value for s in COUNTED])
    return WorkspaceOut.of(record, await ws.prebuilds.state(record.id), counts.get(record.id, 0))


@router.get("")
async def list_workspaces(user: CurrentUser, ws: WorkspacesDep) -> list[WorkspaceOut]:
    """Workspaces the caller owns (all of them for admins), by name."""
    counts = await ws.workspaces.sandbox_counts([s.value for s in COUNTED])
    return [await _out(ws, r, counts) for r in await ws.workspaces.list_visible(user)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_workspace(body: Definition, user: CurrentUser, ws: WorkspacesDep) -> WorkspaceOut:
    """Save a workspace (its first prebuild is queued when `prebuild.auto` and it has work)."""
    definition, secrets = _split(body)
    return await _out(ws, await ws.workspaces.create(user, definition, secrets))


@router.post("/validate")
async def validate(body: Definition, user: CurrentUser, ws: WorkspacesDep) -> dict[str, Any]:
    """Every problem of a definition, with the field it is about (for editors)."""
    definition, secrets = _split(body)
    problems = await ws.workspaces.problems(user, definition, secrets)
    return {"ok": not problems, "problems": [p.to_dict() for p in problems]}


@router.post("/import/devcontainer")
async def import_dev_container(
    body: ImportIn, user: CurrentUser, ws: WorkspacesDep, manager: ManagerDep
) -> dict[str, Any]:
    """Map a devcontainer.json onto a definition; `unmapped` names what could not map."""
    known = tuple(i.name for i in manager.runtime.assets.images()) if manager.runtime else ()
    result = import_devcontainer(body.text, name=body.name, known_images=known,
                                 default_image=manager.config.images.default_image)  # fmt: skip
    problems = await ws.workspaces.problems(user, result.definition)
    return {**result.to_dict(), "problems": [p.to_dict() for p in problems]}


@router.get("/{ref}")
async def get_workspace(ref: str, user: CurrentUser, ws: WorkspacesDep) -> WorkspaceOut:
    """One workspace by id or name."""
    return await _out(ws, await ws.workspaces.get(user, ref))


@router.put("/{ref}")
async def replace_workspace(
    ref: str, body: Definition, user: CurrentUser, ws: WorkspacesDep
) -> WorkspaceOut:
    """Replace the definition (a rebuild is queued when what prebuilds depend on changed)."""
    definition, secrets = _split(body)
    return await _out(ws, await ws.workspaces.replace(user, ref, definition, secrets))


@router.delete("/{ref}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_workspace(ref: str, user: CurrentUser, ws: WorkspacesDep) -> Response:
    """Delete a workspace without live sandboxes, and its prebuilds."""
    await ws.workspaces.delete(user, ref)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{ref}/sandboxes")
async def workspace_sandboxes(
    ref: str, user: CurrentUser, ws: WorkspacesDep
) -> list[dict[str, Any]]:
    """The workspace's sandboxes and how each was made: `cold`, `disk` (prebuild) or `memory`."""
    return await ws.workspaces.origins(user, ref)


@router.get("/{ref}/secrets")
async def list_secrets(ref: str, user: CurrentUser, ws: WorkspacesDep) -> list[SecretOut]:
    """Declared secrets and whether each has a value (values are never returned)."""
    record = await ws.workspaces.get(user, ref)
    return [SecretOut(**s.to_dict()) for s in record.secrets]


@router.put("/{ref}/secrets/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def set_secret(
    ref: str, name: str, body: SecretIn, user: CurrentUser, ws: WorkspacesDep
) -> Response:
    """Write a secret's value (new sandboxes get it; it is never in a prebuild)."""
    await ws.workspaces.set_secret(user, ref, name, body.value)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{ref}/secrets/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_secret(ref: str, name: str, user: CurrentUser, ws: WorkspacesDep) -> Response:
    """Remove a secret's value."""
    await ws.workspaces.set_secret(user, ref, name, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
