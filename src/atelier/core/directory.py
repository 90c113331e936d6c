"""Sandbox facts for subsystems that make their own access decisions (proxy, SSH gateway).

`SandboxFacts` answers from the database on every call, so a membership or status change
takes effect on the next request. It resolves the sandbox service lazily: the manager
creates that service during `start()`.
"""

from __future__ import annotations

import contextlib
from typing import Protocol

from atelier.core.lifecycle import Status
from atelier.core.manager import Manager
from atelier.core.proxy.directory import (
    SERVICE_PORTS,
    DevPortRef,
    DevRoute,
    PlatformService,
    RunningSandbox,
    SandboxRef,
    Visibility,
)
from atelier.errors import AtelierError, NotFound, Unavailable
from atelier.runtime.host import names
from atelier.runtime.network.base import Endpoint
from atelier.runtime.ssh.acl import SandboxRef as SshSandboxRef


class DevPorts(Protocol):
    """Where dev-command ports are recorded (the dev-command service)."""

    async def dev_port(self, sandbox_id: str, name: str) -> DevPortRef | None: ...

    async def set_dev_visibility(
        self, sandbox_id: str, name: str, visibility: Visibility
    ) -> DevPortRef: ...

    async def dev_routes(self, sandbox_id: str) -> tuple[DevRoute, ...]: ...


class SandboxFacts:
    """The proxy's and the SSH gateway's sandbox directory over the manager's sandboxes.

    `dev` answers for dev-command ports once the workspace subsystem is installed.
    """

    def __init__(self, manager: Manager) -> None:
        self._manager = manager
        self.dev: DevPorts | None = None

    async def sandbox_ref(self, sandbox_id: str) -> SandboxRef | None:
        """Owner, members and status; None for unknown or destroyed sandboxes."""
        row = await self._manager.sandboxes.lookup(sandbox_id)
        if row is None or row.status == Status.DESTROYED:
            return None
        return SandboxRef(
            id=row.id,
            owner_id=row.owner_id,
            member_ids=frozenset(m.user_id for m in row.members),
            status=row.status,
        )

    async def dev_port(self, sandbox_id: str, name: str) -> DevPortRef | None:
        """A dev command's published port (None without the workspace subsystem)."""
        return await self.dev.dev_port(sandbox_id, name) if self.dev is not None else None

    async def set_dev_visibility(
        self, sandbox_id: str, name: str, visibility: Visibility
    ) -> DevPortRef:
        """Persist a dev port's visibility."""
        if self.dev is None:
            raise NotFound(f"sandbox {sandbox_id} has no dev command {name!r}", field="name")
        return await self.dev.set_dev_visibility(sandbox_id, name, visibility)

    async def running_routes(self) -> list[RunningSandbox]:
        """Every running sandbox with the endpoints of its platform services."""
        service = self._manager.sandboxes
        routes = []
        for row in await service.running_rows():
            with contextlib.suppress(AtelierError):
                dev = await self.dev.dev_routes(row.id) if self.dev is not None else ()
                routes.append(RunningSandbox(row.id, await self.endpoints(row.id), dev))
        return routes

    # SSH gateway ----------------------------------------------------------------------

    async def ssh_sandbox(self, ref: str) -> SshSandboxRef | None:
        """The sandbox a client named as its SSH user: an id, or a unique name."""
        row = await self._manager.sandboxes.lookup(ref) if names.is_id(ref) else None
        if row is None:
            row = await self._manager.sandboxes.by_name(ref)
        if row is None or row.status == Status.DESTROYED:
            return None
        return SshSandboxRef(
            id=row.id,
            owner_id=row.owner_id,
            member_ids=frozenset(m.user_id for m in row.members),
            status=row.status,
            name=row.name,
        )

    async def ssh_endpoint(self, sandbox_id: str) -> Endpoint:
        """Where the guest's sshd listens."""
        runtime = self._manager.runtime
        if runtime is None or runtime.network is None:
            raise Unavailable(f"sandbox {sandbox_id} has no network, so no SSH")
        return await runtime.network.endpoint(sandbox_id, 22)

    async def endpoints(self, sandbox_id: str) -> dict[PlatformService, Endpoint]:
        """Where code-server, OpenCode and noVNC of a sandbox are reached."""
        runtime = self._manager.runtime
        if runtime is None or runtime.network is None:
            return {}
        return {
            kind: await runtime.network.endpoint(sandbox_id, port)
            for kind, port in SERVICE_PORTS.items()
        }
