"""Sandbox membership: the owner (or an admin) lets other users see and use a sandbox.

Members see and use the sandbox like its owner; only the owner or an admin may change who
the members are. A user is named by user name or id.
"""

from __future__ import annotations

from dataclasses import dataclass

from atelier.core.auth import Principal
from atelier.core.sandbox_records import SandboxRecords
from atelier.core.sandbox_views import SandboxView, SandboxViews
from atelier.db.models import Sandbox, SandboxMember
from atelier.db.repos import sandboxes as repo
from atelier.db.repos import users as user_repo
from atelier.errors import Conflict, Forbidden, NotFound


@dataclass(eq=False)
class SandboxMembers:
    """Adding and removing members."""

    records: SandboxRecords
    views: SandboxViews

    async def add(self, principal: Principal, sandbox_id: str, username: str) -> SandboxView:
        """Let another user see and use the sandbox (owner or admin only)."""
        row = await self._owned(principal, sandbox_id)
        async with self.records.db.session() as session:
            user = await user_repo.by_username(session, username) or await user_repo.get(
                session, username
            )
            if user is None:
                raise NotFound(f"no user {username!r}", field="username")
            if user.id == row.owner_id:
                raise Conflict(f"{user.username} owns sandbox {sandbox_id}", field="username")
            current = await repo.get(session, sandbox_id)
            assert current is not None
            if all(m.user_id != user.id for m in current.members):
                current.members.append(SandboxMember(user_id=user.id))
        return await self._changed(principal, sandbox_id)

    async def remove(self, principal: Principal, sandbox_id: str, username: str) -> SandboxView:
        """Take a member's access away (owner or admin only)."""
        await self._owned(principal, sandbox_id)
        async with self.records.db.session() as session:
            user = await user_repo.by_username(session, username) or await user_repo.get(
                session, username
            )
            current = await repo.get(session, sandbox_id)
            assert current is not None
            if user is None or all(m.user_id != user.id for m in current.members):
                raise NotFound(
                    f"{username!r} is not a member of sandbox {sandbox_id}", field="username"
                )
            current.members = [m for m in current.members if m.user_id != user.id]
        return await self._changed(principal, sandbox_id)

    async def _owned(self, principal: Principal, sandbox_id: str) -> Sandbox:
        row = await self.records.load(principal, sandbox_id)
        if row.owner_id != principal.user_id and not principal.is_admin:
            raise Forbidden("only the owner (or an admin) can change members")
        return row

    async def _changed(self, principal: Principal, sandbox_id: str) -> SandboxView:
        row = await self.records.load(principal, sandbox_id)
        self.records.publish(row, "sandbox.members")
        return await self.views.view(row)
