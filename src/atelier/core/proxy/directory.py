"""What the proxy needs to know about sandboxes: the `SandboxDirectory` Protocol.

The sandbox service implements it over the database; tests use an in-memory fake. The
proxy asks it on every forward-auth decision (so a membership or visibility change takes
effect on the next request) and on every reconcile (which routes should exist).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from atelier.runtime.network.base import Endpoint

Visibility = Literal["private", "members", "public"]
VISIBILITIES: tuple[Visibility, ...] = ("private", "members", "public")
PlatformService = Literal["code", "opencode", "browser"]
# Guest ports of the services published as sandbox-/opencode-/browser-<id>.
SERVICE_PORTS: dict[PlatformService, int] = {"code": 13337, "opencode": 4096, "browser": 6080}


@dataclass(frozen=True)
class SandboxRef:
    """Who may reach a sandbox, and whether it serves right now."""

    id: str
    owner_id: str
    member_ids: frozenset[str] = frozenset()
    status: str = "running"

    @property
    def running(self) -> bool:
        """Serving requests (only `running`: a paused VM would hang every request)."""
        return self.status == "running"

    def is_member(self, user_id: str) -> bool:
        """The owner or a member."""
        return user_id == self.owner_id or user_id in self.member_ids


@dataclass(frozen=True)
class DevPortRef:
    """A dev command's published port and who may open its URL."""

    sandbox_id: str
    name: str
    port: int
    visibility: Visibility = "members"


@dataclass(frozen=True)
class DevRoute:
    """A running dev command's port, as the network driver reaches it."""

    name: str
    endpoint: Endpoint


@dataclass(frozen=True)
class RunningSandbox:
    """A running sandbox's routes: its platform services and its running dev ports."""

    sandbox_id: str
    services: Mapping[PlatformService, Endpoint]
    dev: tuple[DevRoute, ...] = field(default=())


@runtime_checkable
class SandboxDirectory(Protocol):
    """The sandbox facts the proxy reads, implemented by the sandbox service.

    Method names are distinct from the SSH service's directory, so one object can serve both.
    """

    async def sandbox_ref(self, sandbox_id: str) -> SandboxRef | None:
        """The sandbox (any status), or None when it does not exist (or is destroyed)."""
        ...

    async def dev_port(self, sandbox_id: str, name: str) -> DevPortRef | None:
        """The dev command `name` of the sandbox with a published port, or None."""
        ...

    async def set_dev_visibility(
        self, sandbox_id: str, name: str, visibility: Visibility
    ) -> DevPortRef:
        """Persist a dev port's visibility. Raises NotFound for an unknown sandbox or port."""
        ...

    async def running_routes(self) -> list[RunningSandbox]:
        """Every sandbox that should be reachable now, with its endpoints (for reconcile)."""
        ...
