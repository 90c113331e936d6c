"""An in-memory `SandboxDirectory` for proxy tests: sandboxes, members, dev ports, endpoints.

The lead's sandbox service implements the same Protocol over the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from atelier.core.proxy import (
    DevPortRef,
    DevRoute,
    PlatformService,
    RunningSandbox,
    SandboxRef,
    Visibility,
)
from atelier.errors import NotFound
from atelier.runtime.network.base import Endpoint


@dataclass
class _Entry:
    ref: SandboxRef
    services: dict[PlatformService, Endpoint] = field(default_factory=dict)
    dev: dict[str, tuple[DevPortRef, Endpoint | None]] = field(default_factory=dict)


class FakeDirectory:
    """Sandboxes in a dict; `lookups` counts directory reads."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self.lookups = 0

    def add(
        self,
        sandbox_id: str,
        owner_id: str,
        members: tuple[str, ...] = (),
        services: dict[PlatformService, Endpoint] | None = None,
        running: bool = True,
    ) -> SandboxRef:
        ref = SandboxRef(
            sandbox_id, owner_id, frozenset(members), "running" if running else "stopped"
        )
        self._entries[sandbox_id] = _Entry(ref, dict(services or {}))
        return ref

    def add_dev(
        self,
        sandbox_id: str,
        name: str,
        port: int,
        visibility: Visibility = "members",
        endpoint: Endpoint | None = None,
    ) -> DevPortRef:
        ref = DevPortRef(sandbox_id, name, port, visibility)
        self._entries[sandbox_id].dev[name] = (ref, endpoint)
        return ref

    def set_running(self, sandbox_id: str, running: bool) -> None:
        entry = self._entries[sandbox_id]
        entry.ref = replace(entry.ref, status="running" if running else "stopped")

    def remove(self, sandbox_id: str) -> None:
        self._entries.pop(sandbox_id, None)

    async def sandbox_ref(self, sandbox_id: str) -> SandboxRef | None:
        self.lookups += 1
        entry = self._entries.get(sandbox_id)
        return entry.ref if entry else None

    async def dev_port(self, sandbox_id: str, name: str) -> DevPortRef | None:
        entry = self._entries.get(sandbox_id)
        found = entry.dev.get(name) if entry else None
        return found[0] if found else None

    async def set_dev_visibility(
        self, sandbox_id: str, name: str, visibility: Visibility
    ) -> DevPortRef:
        entry = self._entries.get(sandbox_id)
        if entry is None or name not in entry.dev:
            raise NotFound(f"no dev port {name!r} in sandbox {sandbox_id!r}", field="name")
        ref, endpoint = entry.dev[name]
        updated = replace(ref, visibility=visibility)
        entry.dev[name] = (updated, endpoint)
        return updated

    async def running_routes(self) -> list[RunningSandbox]:
        return [
            RunningSandbox(
                e.ref.id,
                dict(e.services),
                tuple(DevRoute(n, ep) for n, (_, ep) in e.dev.items() if ep is not None),
            )
            for e in self._entries.values()
            if e.ref.running
        ]
