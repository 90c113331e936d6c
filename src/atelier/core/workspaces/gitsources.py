"""Git sources a user connects (tokens, passwords, SSH keys): write-only, encrypted at rest.

The API lists a source's name, kind, host and username, never its secret. Workspaces refer
to a source by id or name in `repos[].source`; the prebuild and the cold spawn ask for the
decrypted `GitCredential` of the workspace owner's source at clone time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atelier.core.auth import Principal
from atelier.core.events import EventBus
from atelier.core.secrets import SecretBox
from atelier.core.workspaces.gitauth import GitCredential, check_source
from atelier.db import Database
from atelier.db.models import GitSource
from atelier.db.repos import workspaces as repo
from atelier.errors import Conflict, NotFound
from atelier.runtime.host import names


@dataclass(frozen=True)
class GitSourceView:
    """A git source as the API shows it (no secret)."""

    id: str
    name: str
    kind: str
    host: str | None
    username: str | None
    has_known_hosts: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: GitSource) -> GitSourceView:
        return cls(row.id, row.name, row.kind, row.host, row.username, bool(row.known_hosts),
                   row.created_at, row.updated_at)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class GitSources:
    """CRUD of a user's git sources and decryption for clones."""

    def __init__(self, db: Database, bus: EventBus, box: SecretBox) -> None:
        self.db = db
        self.bus = bus
        self.box = box

    async def list(self, principal: Principal) -> list[GitSourceView]:
        """The caller's sources, by name."""
        async with self.db.session() as session:
            return [GitSourceView.of(r) for r in await repo.git_sources(session, principal.user_id)]

    async def _own(self, principal: Principal, ref: str) -> GitSource:
        async with self.db.session() as session:
            row = await repo.git_source(session, principal.user_id, ref)
        if row is None:
            raise NotFound(f"no git source {ref!r}", field="id",
                           hint="list yours with `atelier git-source list`")  # fmt: skip
        return row

    async def get(self, principal: Principal, ref: str) -> GitSourceView:
        """One of the caller's sources by id or name."""
        return GitSourceView.of(await self._own(principal, ref))

    async def create(self, principal: Principal, data: dict[str, Any]) -> GitSourceView:
        """Add a source (`name`, `kind`, `secret`, optional `host`, `username`, `knownHosts`)."""
        check_source(data, creating=True)
        host = data.get("host") or ("github.com" if data["kind"] == "github" else None)
        async with self.db.session() as session:
            if await repo.git_source(session, principal.user_id, data["name"]) is not None:
                raise Conflict(
                    f"you already have a git source named {data['name']!r}", field="name"
                )
            source_id = names.new_id()
            row = GitSource(
                id=source_id, owner_id=principal.user_id, name=data["name"], kind=data["kind"],
                host=host, username=data.get("username") or None,
                secret=self.box.encrypt(data["secret"]),
                known_hosts=data.get("knownHosts") or None,
            )  # fmt: skip
            session.add(row)
        self.bus.publish("git_source.created", {"id": source_id, "name": row.name},
                         {principal.user_id})  # fmt: skip
        return GitSourceView.of(row)

    async def update(self, principal: Principal, ref: str, data: dict[str, Any]) -> GitSourceView:
        """Change a source; a `secret` given replaces the stored one."""
        check_source(data, creating=False)
        current = await self._own(principal, ref)
        async with self.db.session() as session:
            row = await session.get(GitSource, current.id)
            assert row is not None
            if data.get("name") and data["name"] != row.name:
                if await repo.git_source(session, principal.user_id, data["name"]) is not None:
                    raise Conflict(f"another git source is named {data['name']!r}", field="name")
                row.name = data["name"]
            for key, column in (("host", "host"), ("username", "username"),
                                ("knownHosts", "known_hosts")):  # fmt: skip
                if key in data:
                    setattr(row, column, data[key] or None)
            if data.get("kind"):
                row.kind = data["kind"]
            if data.get("secret"):
                row.secret = self.box.encrypt(data["secret"])
        return GitSourceView.of(row)

    async def delete(self, principal: Principal, ref: str) -> None:
        """Remove a source; workspaces naming it fail to clone until it is replaced."""
        current = await self._own(principal, ref)
        async with self.db.session() as session:
            row = await session.get(GitSource, current.id)
            if row is not None:
                await session.delete(row)

    async def credential(self, owner_id: str, ref: str) -> GitCredential | None:
        """The decrypted credential of an owner's source (for one clone), or None."""
        async with self.db.session() as session:
            row = await repo.git_source(session, owner_id, ref)
        if row is None:
            return None
        return GitCredential(
            row.id, row.name, row.kind, self.box.decrypt(row.secret), row.host, row.username,
            row.known_hosts,
        )  # fmt: skip
