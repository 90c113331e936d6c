"""Workspaces: definitions with access control, write-only secrets, and the checks that need
the host (image built, resources within limits, git sources present).

Owners and admins see a workspace; anybody else gets 404. Secret values are encrypted with
the host key the moment they arrive and are only decrypted for injection into a guest; the
API shows their names and whether a value is set, never the value. Events carry ids and
names only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atelier.config import AtelierConfig
from atelier.core.auth import Principal
from atelier.core.events import EventBus
from atelier.core.lifecycle import LIVE
from atelier.core.runtime import Runtime
from atelier.core.secrets import SecretBox
from atelier.core.workspaces.gitsources import GitSources
from atelier.core.workspaces.model import DefinitionInvalid, Problem, WorkspaceSpec
from atelier.core.workspaces.validate import parse_definition
from atelier.db import Database
from atelier.db.models import Workspace
from atelier.db.repos import users as user_repo
from atelier.db.repos import workspaces as repo
from atelier.errors import AtelierError, Conflict, NotFound, ValidationError
from atelier.runtime.host import names

Changed = Callable[[str, str], Awaitable[None]]  # (workspace id, trigger)


@dataclass(frozen=True)
class SecretInfo:
    """A declared secret: its kind, where a file secret goes, and whether a value is set."""

    name: str
    kind: str  # env | file
    set: bool
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "set": self.set, "path": self.path}


@dataclass(frozen=True)
class WorkspaceRecord:
    """A workspace as the service hands it on: row data, parsed spec and secret names."""

    id: str
    owner_id: str
    owner: str
    name: str
    definition: dict[str, Any]
    spec: WorkspaceSpec
    secrets: list[SecretInfo]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Machine:
    """The image and resources a workspace's sandboxes (and prebuilds) get."""

    image: str
    vcpus: int
    memory_mb: int
    disk_gb: int


class WorkspaceService:
    """Workspace definitions and their secrets."""

    def __init__(
        self,
        config: AtelierConfig,
        db: Database,
        bus: EventBus,
        box: SecretBox,
        runtime: Callable[[], Runtime | None],
        sources: GitSources,
    ) -> None:
        self.config = config
        self.db = db
        self.bus = bus
        self.box = box
        self._runtime = runtime
        self.sources = sources
        self.on_changed: Changed | None = None
        self.on_deleting: Callable[[str], Awaitable[None]] | None = None  # remove prebuilds

    # reading -----------------------------------------------------------------------

    async def _row(self, principal: Principal, ref: str) -> Workspace:
        async with self.db.session() as session:
            row = await repo.get(session, ref)
            if row is None:
                row = await repo.by_name(session, principal.user_id, ref)
        if row is None or not (principal.is_admin or row.owner_id == principal.user_id):
            raise NotFound(
                f"no workspace {ref!r}", field="id", hint="list yours with `atelier workspace list`"
            )
        return row

    async def _record(self, row: Workspace) -> WorkspaceRecord:
        spec = parse_definition(row.definition)
        async with self.db.session() as session:
            owner = await user_repo.get(session, row.owner_id)
            stored = {s.name for s in await repo.secrets(session, row.id)}
        secrets = [SecretInfo(n, "env", n in stored) for n in spec.env_secrets]
        secrets += [SecretInfo(f.name, "file", f.name in stored, f.path) for f in spec.file_secrets]
        return WorkspaceRecord(
            row.id, row.owner_id, owner.username if owner else row.owner_id, row.name,
            row.definition, spec, secrets, row.created_at, row.updated_at,
        )  # fmt: skip

    async def get(self, principal: Principal, ref: str) -> WorkspaceRecord:
        """A workspace by id or (the caller's) name."""
        return await self._record(await self._row(principal, ref))

    async def list_visible(self, principal: Principal) -> list[WorkspaceRecord]:
        """The caller's workspaces (every workspace for admins), by name."""
        async with self.db.session() as session:
            rows = await repo.visible(session, principal.user_id, is_admin=principal.is_admin)
        return [await self._record(row) for row in rows]

    async def internal(self, workspace_id: str) -> WorkspaceRecord | None:
        """A workspace without access checks (spawns, prebuilds)."""
        async with self.db.session() as session:
            row = await repo.get(session, workspace_id)
        return await self._record(row) if row is not None else None

    async def origins(self, principal: Principal, ref: str) -> list[dict[str, Any]]:
        """The workspace's sandboxes and how each was made (cold, disk prebuild, memory)."""
        row = await self._row(principal, ref)
        async with self.db.session() as session:
            found = await repo.origins(session, row.id)
        return [{"sandboxId": o.sandbox_id, "prebuildId": o.prebuild_id, "mode": o.mode,
                 "createdAt": o.created_at.isoformat()} for o in found]  # fmt: skip

    async def sandbox_counts(self, statuses: list[str]) -> dict[str, int]:
        """How many sandboxes in `statuses` each workspace has."""
        async with self.db.session() as session:
            return await repo.sandbox_counts(session, statuses)

    async def secret_values(self, workspace_id: str) -> dict[str, str]:
        """Decrypted secret values, for injection into a guest only."""
        async with self.db.session() as session:
            rows = await repo.secrets(session, workspace_id)
        return {row.name: self.box.decrypt(row.value) for row in rows}

    def machine(self, spec: WorkspaceSpec) -> Machine:
        """The definition's image and resources, with the host's defaults for what it omits
        (the same defaults a sandbox created without them gets)."""
        defaults = self.config.sandbox
        image = spec.image or self.config.images.default_image
        memory = spec.resources.memory_mb or defaults.memory_mb
        if memory is None:
            runtime = self._runtime()
            memory = runtime.assets.image(image).manifest.recommended_memory_mb if runtime else 1024
        return Machine(
            image,
            spec.resources.vcpus or defaults.vcpus,
            memory,
            spec.resources.disk_gb or defaults.disk_gb,
        )

    # checking ----------------------------------------------------------------------

    async def problems(
        self, principal: Principal, definition: Any, secret_values: dict[str, str] | None = None
    ) -> list[Problem]:
        """Every problem of a definition, including those only the host can see."""
        try:
            spec = parse_definition(definition)
        except DefinitionInvalid as exc:
            return exc.problems
        found: list[Problem] = []
        limits = self.config.sandbox
        image = spec.image or self.config.images.default_image
        runtime = self._runtime()
        if runtime is not None:
            try:
                built = runtime.assets.image(image)
                need = -(-built.manifest.size_apparent // (1 << 30))
                if spec.resources.disk_gb is not None and spec.resources.disk_gb < need:
                    found.append(
                        Problem("resources.diskGb", f"image {image!r} needs at least {need} GiB")
                    )
            except AtelierError as exc:
                found.append(Problem("image", exc.message))
        for key, value, high in (
            ("vcpus", spec.resources.vcpus, limits.max_vcpus),
            ("memoryMb", spec.resources.memory_mb, limits.max_memory_mb),
            ("diskGb", spec.resources.disk_gb, limits.max_disk_gb),
        ):
            if value is not None and value > high:
                found.append(
                    Problem(f"resources.{key}", f"{value} is over this host's limit {high}")
                )
        for i, repo_spec in enumerate(spec.repos):
            if repo_spec.source is None:
                continue
            credential = await self.sources.credential(principal.user_id, repo_spec.source)
            if credential is None:
                found.append(Problem(f"repos[{i}].source", f"no git source {repo_spec.source!r};"
                                     " add one with `atelier git-source add`"))  # fmt: skip
            elif not credential.covers(repo_spec.url):
                found.append(Problem(f"repos[{i}].source", f"git source {credential.name!r} is for"
                                     f" {credential.host}, not this URL's host"))  # fmt: skip
        declared = set(spec.env_secrets) | {f.name for f in spec.file_secrets}
        for name in sorted(set(secret_values or {}) - declared):
            found.append(
                Problem(f"secretValues.{name}", "is not declared in secrets.env or secrets.files")
            )
        return found

    async def _checked(
        self, principal: Principal, definition: Any, secret_values: dict[str, str] | None
    ) -> WorkspaceSpec:
        problems = await self.problems(principal, definition, secret_values)
        if problems:
            raise DefinitionInvalid(problems)
        return parse_definition(definition)

    # writing -----------------------------------------------------------------------

    async def create(
        self, principal: Principal, definition: Any, secret_values: dict[str, str] | None = None
    ) -> WorkspaceRecord:
        """Save a new workspace (Conflict when the caller has one of that name)."""
        spec = await self._checked(principal, definition, secret_values)
        async with self.db.session() as session:
            if await repo.by_name(session, principal.user_id, spec.name) is not None:
                raise Conflict(f"you already have a workspace named {spec.name!r}", field="name",
                               hint="pick another name, or `atelier workspace apply` to update it")  # fmt: skip
            workspace_id = names.new_id()
            while await repo.get(session, workspace_id) is not None:
                workspace_id = names.new_id()
            row = Workspace(id=workspace_id, owner_id=principal.user_id, name=spec.name,
                            definition=spec.raw)  # fmt: skip
            session.add(row)
            await session.flush()
            for name, value in (secret_values or {}).items():
                await repo.put_secret(session, workspace_id, name, self.box.encrypt(value))
        self._publish("workspace.created", row)
        if self.on_changed is not None and _buildable(spec):
            await self.on_changed(row.id, "created")
        return await self._record(row)

    async def replace(
        self,
        principal: Principal,
        ref: str,
        definition: Any,
        secret_values: dict[str, str] | None = None,
    ) -> WorkspaceRecord:
        """Replace a definition; secrets no longer declared are deleted."""
        current = await self._row(principal, ref)
        spec = await self._checked(principal, definition, secret_values)
        before = parse_definition(current.definition).build_digest()
        async with self.db.session() as session:
            other = await repo.by_name(session, current.owner_id, spec.name)
            if other is not None and other.id != current.id:
                raise Conflict(f"another workspace is named {spec.name!r}", field="name")
            row = await repo.get(session, current.id)
            assert row is not None
            row.name, row.definition = spec.name, spec.raw
            for name, value in (secret_values or {}).items():
                await repo.put_secret(session, row.id, name, self.box.encrypt(value))
            declared = set(spec.env_secrets) | {f.name for f in spec.file_secrets}
            await repo.prune_secrets(session, row.id, declared)
        self._publish("workspace.updated", row)
        if self.on_changed is not None and _buildable(spec) and spec.build_digest() != before:
            await self.on_changed(row.id, "changed")
        return await self._record(row)

    async def delete(self, principal: Principal, ref: str) -> Workspace:
        """Delete a workspace without live sandboxes (Conflict names them)."""
        row = await self._row(principal, ref)
        async with self.db.session() as session:
            live = await repo.live_sandboxes(session, row.id, [*(s.value for s in LIVE), "queued"])
            if live:
                raise Conflict(
                    f"workspace {row.name!r} has live sandboxes: {', '.join(live)}",
                    hint="stop or destroy them first",
                )
        if self.on_deleting is not None:
            await self.on_deleting(row.id)
        async with self.db.session() as session:
            current = await repo.get(session, row.id)
            if current is not None:
                await session.delete(current)
        self._publish("workspace.deleted", row)
        return row

    async def set_secret(
        self, principal: Principal, ref: str, name: str, value: str | None
    ) -> None:
        """Write (or with None delete) a declared secret's value; it is never shown again."""
        row = await self._row(principal, ref)
        spec = parse_definition(row.definition)
        declared = set(spec.env_secrets) | {f.name for f in spec.file_secrets}
        if name not in declared:
            raise ValidationError(
                f"secret {name!r} is not declared by workspace {row.name!r}",
                field="name",
                hint="declare it under secrets.env or secrets.files first",
            )
        if value is not None and len(value) > 65536:
            raise ValidationError("a secret value is at most 65536 characters", field="value")
        async with self.db.session() as session:
            if value is None:
                await repo.delete_secret(session, row.id, name)
            else:
                await repo.put_secret(session, row.id, name, self.box.encrypt(value))
        self.bus.publish("workspace.secret", {"id": row.id, "name": name, "set": value is not None},
                         {row.owner_id})  # fmt: skip

    def _publish(self, kind: str, row: Workspace) -> None:
        self.bus.publish(kind, {"id": row.id, "name": row.name}, {row.owner_id})


def _buildable(spec: WorkspaceSpec) -> bool:
    return spec.prebuild.auto and bool(spec.repos or spec.init)
