"""OpenCode config files replicated into sandboxes (global, or a workspace's overrides)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from atelier.api.deps import CurrentUser, ManagerDep
from atelier.api.schemas.tasks import ConfigFileIn, ConfigFileOut, PushOut
from atelier.core.tasks.system import tasks_of

router = APIRouter(prefix="/api/opencode-config", tags=["opencode config"])
Workspace = Query(None, alias="workspaceId", description="a workspace's overrides")


@router.get("")
async def list_files(
    user: CurrentUser, manager: ManagerDep, workspace_id: str | None = Workspace
) -> list[ConfigFileOut]:
    """The stored files of one scope."""
    files = await tasks_of(manager).configs.files(user, workspace_id)
    return [ConfigFileOut.of(f) for f in files]


@router.get("/merged")
async def merged(
    user: CurrentUser, manager: ManagerDep, workspace_id: str | None = Workspace
) -> dict[str, str]:
    """What a sandbox (of the workspace) gets, by path."""
    system = tasks_of(manager)
    await system.configs.files(user, workspace_id)  # access check
    return await system.configs.merged(workspace_id)


@router.put("")
async def put_file(
    body: ConfigFileIn, user: CurrentUser, manager: ManagerDep, workspace_id: str | None = Workspace
) -> dict[str, object]:
    """Store a file and push it to the running sandboxes it applies to."""
    saved, pushed = await tasks_of(manager).configs.put(user, workspace_id, body.path, body.content)
    return {
        "file": ConfigFileOut.of(saved).model_dump(by_alias=True, mode="json"),
        "pushed": [PushOut.of(p).model_dump(by_alias=True) for p in pushed],
    }


@router.delete("")
async def delete_file(
    user: CurrentUser,
    manager: ManagerDep,
    path: str = Query(max_length=255),
    workspace_id: str | None = Workspace,
) -> list[PushOut]:
    """Remove a stored file; running sandboxes get the merged result again."""
    pushed = await tasks_of(manager).configs.delete(user, workspace_id, path)
    return [PushOut.of(p) for p in pushed]


@router.post("/push")
async def push(
    user: CurrentUser, manager: ManagerDep, workspace_id: str | None = Workspace
) -> list[PushOut]:
    """Write the files into the running sandboxes again."""
    system = tasks_of(manager)
    await system.configs.files(user, workspace_id)  # access check
    return [PushOut.of(p) for p in await system.configs.push(workspace_id)]
