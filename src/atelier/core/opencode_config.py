"""OpenCode config replication: global and per-workspace files written into sandboxes.

Files are stored per scope ("" = every sandbox, else a workspace id) under a path in the
OpenCode user's home (`~/.config/opencode/opencode.json`, `~/.config/opencode/AGENTS.md`).
For a sandbox, the workspace's file wins over the global one; when both are JSON they are
deep-merged (objects recursively, the workspace's values win, `null` deletes a key, other
values are replaced). A workspace definition's own OpenCode settings sit between the two.
Files are written at every spawn (before OpenCode starts) and pushed to running sandboxes
whenever a file changes. The credentials file belongs to auth sync and is refused here.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atelier.core.auth import Principal
from atelier.core.lifecycle import Status
from atelier.core.tasks.guest import OpencodeAccess
from atelier.core.tasks.workspaces import WorkspaceLookup
from atelier.db.models import OpencodeConfigFile
from atelier.db.repos import opencode as repo
from atelier.errors import AtelierError, Forbidden, NotFound, ValidationError
from atelier.runtime.agent.client import AgentClient

log = logging.getLogger(__name__)
MAIN_FILE = "~/.config/opencode/opencode.json"
MAX_SIZE = 256 << 10
GLOBAL = ""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` merged into `base`: objects recursively, `None` deletes, the rest replaces."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def check_path(path: str, auth_file: str) -> str:
    """A normalised `~/…` path; ValidationError for anything outside the home or managed."""
    if not path.startswith("~/"):
        raise ValidationError(
            f"path {path!r} must start with ~/ (the OpenCode user's home in the sandbox)",
            field="path",
        )
    normal = "~/" + posixpath.normpath(path[2:])
    if normal.startswith("~/..") or normal in ("~/.", "~/"):
        raise ValidationError(f"path {path!r} leaves the home directory", field="path")
    if normal == auth_file:
        raise ValidationError(
            f"{path} holds provider credentials and is managed by auth sync",
            field="path",
            hint="use /api/shared-auth",
        )
    return normal


def parse_content(path: str, content: str) -> Any:
    """The JSON value of a `.json` file (ValidationError when invalid), else None."""
    if len(content.encode()) > MAX_SIZE:
        raise ValidationError(
            f"content of {path} is {len(content.encode())} bytes; at most {MAX_SIZE} are allowed",
            field="content",
        )
    if not path.endswith(".json"):
        return None
    try:
        value = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            field="content",
        ) from exc
    if not isinstance(value, dict):
        raise ValidationError(f"{path} must hold a JSON object", field="content")
    return value


def merge_files(layers: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """Files of several scopes (weakest first) merged into what a sandbox gets."""
    merged: dict[str, str] = {}
    for layer in layers:
        for path, content in layer.items():
            previous = merged.get(path)
            if path.endswith(".json") and previous is not None:
                base, top = json.loads(previous), json.loads(content)
                if isinstance(base, dict) and isinstance(top, dict):
                    content = json.dumps(deep_merge(base, top), indent=2) + "\n"
            merged[path] = content
    return merged


@dataclass(frozen=True)
class ConfigFileView:
    """A stored file as the API shows it."""

    scope: str
    path: str
    content: str
    updated_at: datetime

    @classmethod
    def of(cls, row: OpencodeConfigFile) -> ConfigFileView:
        return cls(row.scope, row.path, row.content, row.updated_at)


@dataclass(frozen=True)
class PushResult:
    """How writing the files into one running sandbox went."""

    sandbox_id: str
    ok: bool
    detail: str = ""


class OpencodeConfigService:
    """Stores the files and writes them into sandboxes."""

    def __init__(self, access: OpencodeAccess, workspaces: WorkspaceLookup) -> None:
        self._access = access
        self._db = access.manager.db
        self._config = access.config
        self._workspaces = workspaces

    async def _check_scope(self, principal: Principal, workspace_id: str | None) -> str:
        if workspace_id is None:
            return GLOBAL
        await self._workspaces.get(principal, workspace_id)
        return workspace_id

    async def _check_edit(self, principal: Principal, workspace_id: str | None) -> str:
        scope = await self._check_scope(principal, workspace_id)
        if principal.is_admin:
            return scope
        if workspace_id is None:
            raise Forbidden("only an admin can change the global OpenCode config")
        if not await self._workspaces.can_edit(principal, workspace_id):
            raise Forbidden(f"you may not change workspace {workspace_id}'s OpenCode config")
        return scope

    async def files(self, principal: Principal, workspace_id: str | None) -> list[ConfigFileView]:
        """The files stored for one scope (global, or a workspace's overrides)."""
        scope = await self._check_scope(principal, workspace_id)
        async with self._db.session() as session:
            return [ConfigFileView.of(r) for r in await repo.config_files(session, [scope])]

    async def put(
        self, principal: Principal, workspace_id: str | None, path: str, content: str
    ) -> tuple[ConfigFileView, list[PushResult]]:
        """Store a file, then push the result to the running sandboxes it applies to."""
        scope = await self._check_edit(principal, workspace_id)
        path = check_path(path, self._config.auth_file)
        parse_content(path, content)
        async with self._db.session() as session:
            row = await repo.config_file(session, scope, path)
            if row is None:
                row = OpencodeConfigFile(scope=scope, path=path, content=content)
                session.add(row)
            row.content, row.updated_by = content, principal.user_id
        async with self._db.session() as session:
            saved = await repo.config_file(session, scope, path)
            assert saved is not None
        return ConfigFileView.of(saved), await self.push(workspace_id)

    async def delete(
        self, principal: Principal, workspace_id: str | None, path: str
    ) -> list[PushResult]:
        """Remove a stored file (sandboxes keep what they have; merged files are rewritten)."""
        scope = await self._check_edit(principal, workspace_id)
        path = check_path(path, self._config.auth_file)
        async with self._db.session() as session:
            row = await repo.config_file(session, scope, path)
            if row is None:
                raise NotFound(f"no file {path} in this scope", field="path")
            await session.delete(row)
        return await self.push(workspace_id)

    async def merged(self, workspace_id: str | None) -> dict[str, str]:
        """What a sandbox of `workspace_id` (or of no workspace) gets, by `~/` path."""
        scopes = [GLOBAL] if workspace_id is None else [GLOBAL, workspace_id]
        async with self._db.session() as session:
            rows = await repo.config_files(session, scopes)
        layers: list[dict[str, str]] = [{r.path: r.content for r in rows if r.scope == GLOBAL}]
        if workspace_id is not None:
            workspace = await self._workspaces.find(workspace_id)
            if workspace is not None and workspace.opencode_config:
                layers.append({MAIN_FILE: json.dumps(dict(workspace.opencode_config))})
            layers.append({r.path: r.content for r in rows if r.scope == workspace_id})
        return merge_files(layers)

    async def write_to(self, sandbox_id: str, agent: AgentClient, workspace_id: str | None) -> int:
        """Write the merged files into a sandbox; the number of files written."""
        home = self._access.launcher.home(sandbox_id)
        user = self._config.guest_user
        files = await self.merged(workspace_id)
        for path, content in files.items():
            target = posixpath.join(home, path[2:])
            await agent.write_file(target, content.encode(), mode=0o600, owner=user)
        return len(files)

    async def push(self, workspace_id: str | None) -> list[PushResult]:
        """Write the files into every running sandbox of the scope (all for global)."""
        results = []
        for row in await self._access.manager.sandboxes.running_rows():
            if row.status != Status.RUNNING:
                continue
            if workspace_id is not None and row.workspace_id != workspace_id:
                continue
            try:
                agent = await self._access.agent(row.id)
                count = await self.write_to(row.id, agent, row.workspace_id)
                results.append(PushResult(row.id, True, f"{count} files"))
            except AtelierError as exc:
                log.warning("could not push OpenCode config to %s: %s", row.id, exc.message)
                results.append(PushResult(row.id, False, exc.message))
        return results
