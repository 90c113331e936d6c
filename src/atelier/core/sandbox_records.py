"""Sandbox rows: who may see them, how their status changes, and the events that tell.

`SandboxRecords.load` is the access check behind every user-facing operation: owners,
members and admins see a sandbox; anybody else gets 404, so existence does not leak.
Every status change is checked against the state machine in `lifecycle.py` (409 when
illegal) and published to the sandbox's audience. Nothing here touches the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from atelier.core.auth import Principal
from atelier.core.events import EventBus
from atelier.core.lifecycle import Status, check_transition
from atelier.db import Database
from atelier.db.models import Sandbox
from atelier.db.repos import sandboxes as repo
from atelier.db.types import utcnow
from atelier.errors import NotFound


@dataclass(eq=False)
class SandboxRecords:
    """Reads and status changes of sandbox rows, each change announced on the bus."""

    db: Database
    bus: EventBus

    async def load(self, principal: Principal, sandbox_id: str) -> Sandbox:
        """The row, if the caller may see it; NotFound (404) otherwise."""
        async with self.db.session() as session:
            row = await repo.get(session, sandbox_id)
        if row is None or not can_see(principal, row):
            raise NotFound(
                f"no sandbox {sandbox_id!r}",
                field="id",
                hint="list yours with `atelier sandbox list`",
            )
        return row

    async def transition(self, sandbox_id: str, target: Status) -> Sandbox:
        """Move to `target`; NotFound, or Conflict (409) when the state machine forbids it."""
        async with self.db.session() as session:
            row = await repo.get(session, sandbox_id)
            if row is None:
                raise NotFound(f"no sandbox {sandbox_id!r}", field="id")
            check_transition(sandbox_id, Status(row.status), target)
            row.status = target.value
        self.publish(row, "sandbox.status")
        return row

    async def set_status(
        self,
        sandbox_id: str,
        status: Status,
        *,
        error: tuple[str, str] | None = None,
        stopped: bool = False,
        destroyed: bool = False,
    ) -> Sandbox:
        """Record the end of an operation: the status, an error, and what no longer exists."""
        async with self.db.session() as session:
            row = await repo.get(session, sandbox_id)
            assert row is not None
            row.status = status.value
            if error is not None:
                row.error_step, row.error_message = error
            if stopped or destroyed or status == Status.ERROR:
                row.vm = None
                row.agent_token = None
            if stopped:
                row.stopped_at = utcnow()
            if destroyed:
                row.volume = None
        self.publish(row, "sandbox.status")
        return row

    async def touch(self, sandbox_id: str) -> None:
        """Note that somebody used the sandbox (for idle auto-stop)."""
        async with self.db.session() as session:
            row = await repo.get(session, sandbox_id)
            if row is not None:
                row.last_activity_at = utcnow()

    async def lookup(self, sandbox_id: str) -> Sandbox | None:
        """A sandbox row without access checks (for subsystems that check themselves)."""
        async with self.db.session() as session:
            return await repo.get(session, sandbox_id)

    async def by_name(self, name: str) -> Sandbox | None:
        """The live sandbox with this name, when exactly one has it (no access checks)."""
        async with self.db.session() as session:
            rows = await repo.named(session, name)
        return rows[0] if len(rows) == 1 else None

    async def running_rows(self) -> list[Sandbox]:
        """Every running sandbox (for route and gateway reconciliation)."""
        async with self.db.session() as session:
            return await repo.with_status(session, [Status.RUNNING.value])

    def publish(self, row: Sandbox, kind: str) -> None:
        """Tell the sandbox's owner and members (and admins) what happened to it."""
        self.bus.publish(
            kind,
            {
                "id": row.id,
                "status": row.status,
                "error": row.error_message,
                "step": row.error_step,
            },
            audience(row),
        )


def can_see(principal: Principal, row: Sandbox) -> bool:
    return (
        principal.is_admin
        or row.owner_id == principal.user_id
        or any(m.user_id == principal.user_id for m in row.members)
    )


def audience(row: Sandbox) -> set[str]:
    return {row.owner_id, *(m.user_id for m in row.members)}
