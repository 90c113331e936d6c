"""The proxy service: publishes sandbox services as routes and keeps Caddy reconciled.

The sandbox lifecycle calls `sandbox_running` / `sandbox_stopped` and the dev-command code
calls `dev_started` / `dev_stopped`; `resync` (at start, then every `resync_interval_s`)
makes Caddy's routes exactly those of the running sandboxes, so a Caddy restart or a missed
call heals by itself. With `proxy.caddy = "off"` there is no driver and every call is a
no-op. Access decisions live in `AccessGate` (`self.access`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.core.auth import Principal
from atelier.core.events import EventBus
from atelier.core.proxy.access import AccessGate
from atelier.core.proxy.directory import (
    DevPortRef,
    PlatformService,
    RunningSandbox,
    SandboxDirectory,
    Visibility,
)
from atelier.errors import AtelierError, Forbidden, NotFound, ValidationError
from atelier.runtime.host import names
from atelier.runtime.network.base import Endpoint
from atelier.runtime.proxy.base import ProxyDriver, ProxyStatus, RouteSpec
from atelier.runtime.proxy.config import ProxySettings
from atelier.runtime.proxy.errors import ProxyUnavailable
from atelier.runtime.proxy.hosts import ServiceHost

log = logging.getLogger(__name__)

PLATFORM: tuple[PlatformService, ...] = ("code", "opencode", "browser")
Spawner = Callable[[str, Callable[[], Awaitable[None]]], None]


@dataclass(frozen=True)
class ResyncReport:
    """What a reconcile changed in the proxy."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    base_reloaded: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "added": list(self.added),
            "updated": list(self.updated),
            "removed": list(self.removed),
            "base_reloaded": self.base_reloaded,
        }


class ProxyService:
    """Routes of running sandboxes in the proxy, and the access gate in front of them."""

    def __init__(
        self,
        settings: ProxySettings,
        driver: ProxyDriver | None,
        directory: SandboxDirectory,
        access: AccessGate,
        *,
        bus: EventBus | None = None,
        spawn: Spawner | None = None,
    ) -> None:
        self.settings = settings
        self.driver = driver
        self.directory = directory
        self.access = access
        self._bus = bus
        self._spawn = spawn
        self._cert_stamp: tuple[float, int] | None = None

    # -- URLs -------------------------------------------------------------------------------

    def host(self, kind: names.RouteKind, sandbox_id: str, dev_name: str | None = None) -> str:
        """The hostname of a sandbox service."""
        return ServiceHost(kind, sandbox_id, dev_name).hostname(self.settings.domain)

    def urls(self, sandbox_id: str) -> dict[str, str]:
        """Public URLs of the platform services ({} when the proxy is off)."""
        if self.driver is None:
            return {}
        return {k: self.settings.url(self.host(k, sandbox_id)) for k in PLATFORM}

    def dev_url(self, sandbox_id: str, name: str) -> str | None:
        """Public URL of a dev port (None when the proxy is off)."""
        if self.driver is None:
            return None
        return self.settings.url(self.host("dev", sandbox_id, names.check_dev_name(name)))

    def _spec(
        self, kind: names.RouteKind, sandbox_id: str, endpoint: Endpoint, dev: str | None = None
    ) -> RouteSpec:
        route_id = names.route_id(kind, sandbox_id, dev)
        return RouteSpec(route_id, self.host(kind, sandbox_id, dev), endpoint.dial_string())

    def _specs(self, sandbox: RunningSandbox) -> list[RouteSpec]:
        specs = [
            self._spec(kind, sandbox.sandbox_id, endpoint)
            for kind, endpoint in sandbox.services.items()
            if kind in PLATFORM
        ]
        specs += [self._spec("dev", sandbox.sandbox_id, d.endpoint, d.name) for d in sandbox.dev]
        return specs

    # -- lifecycle calls --------------------------------------------------------------------

    async def sandbox_running(
        self, sandbox_id: str, endpoints: Mapping[PlatformService, Endpoint]
    ) -> dict[str, str]:
        """Publish the platform services of a sandbox that reached `running`; returns URLs.

        Raises ProxyUnavailable or ProxyError (the periodic resync retries later).
        """
        if self.driver is None:
            return {}
        for spec in self._specs(RunningSandbox(sandbox_id, endpoints)):
            await self.driver.put_route(spec)
        return {k: v for k, v in self.urls(sandbox_id).items() if k in endpoints}

    async def sandbox_stopped(self, sandbox_id: str) -> None:
        """Remove every route of the sandbox (platform and dev); call on stop and destroy."""
        if self.driver is None:
            return
        for installed in await self.driver.routes():
            parsed = names.parse_route_id(installed.spec.route_id)
            if parsed is not None and parsed.sandbox_id == sandbox_id:
                await self.driver.delete_route(installed.spec.route_id)

    async def dev_started(self, sandbox_id: str, name: str, endpoint: Endpoint) -> str | None:
        """Publish a dev command's port as `dev-<name>-<id>`; returns its URL."""
        if self.driver is None:
            return None
        await self.driver.put_route(self._spec("dev", sandbox_id, endpoint, name))
        return self.dev_url(sandbox_id, name)

    async def dev_stopped(self, sandbox_id: str, name: str) -> None:
        """Remove a dev command's route."""
        if self.driver is not None:
            await self.driver.delete_route(names.route_id("dev", sandbox_id, name))

    async def set_visibility(
        self, principal: Principal, sandbox_id: str, name: str, visibility: str
    ) -> DevPortRef:
        """Change who may open a dev URL; only the sandbox owner may. Takes effect at once.

        Raises ValidationError for an unknown visibility, NotFound for an unknown sandbox or
        port (or one the caller is not a member of), Forbidden for a member who is not the
        owner.
        """
        if visibility not in ("private", "members", "public"):
            raise ValidationError(
                f"visibility {visibility!r} is not allowed: use private, members or public",
                field="visibility",
            )
        sandbox = await self.directory.sandbox_ref(sandbox_id)
        if sandbox is None or not sandbox.is_member(principal.user_id):
            raise NotFound(f"no sandbox {sandbox_id!r}", field="sandbox")
        if principal.user_id != sandbox.owner_id:
            raise Forbidden(
                "only the sandbox owner changes the visibility of its dev URLs",
                field="visibility",
            )
        chosen: Visibility = visibility  # type: ignore[assignment]  # checked above
        port = await self.directory.set_dev_visibility(sandbox_id, name, chosen)
        if self._bus is not None:
            self._bus.publish(
                "sandbox.dev_visibility",
                {"sandbox_id": sandbox_id, "name": name, "visibility": visibility,
                 "url": self.dev_url(sandbox_id, name)},
                audience={sandbox.owner_id, *sandbox.member_ids},
            )  # fmt: skip
        return port

    # -- reconcile --------------------------------------------------------------------------

    async def resync(self, sandboxes: Sequence[RunningSandbox] | None = None) -> ResyncReport:
        """Make the proxy's routes exactly those of `sandboxes` (default: the directory's).

        Loads the base config if Caddy lost it, removes Atelier routes of sandboxes that do
        not run, adds missing ones, replaces stale or duplicated ones. Routes whose ids are
        not Atelier's are never touched. Raises ProxyUnavailable or ProxyError.
        """
        if self.driver is None:
            return ResyncReport()
        base = await self.driver.ensure_base()
        running = await self.directory.running_routes() if sandboxes is None else sandboxes
        desired = {s.route_id: s for sandbox in running for s in self._specs(sandbox)}
        installed = await self.driver.routes()
        counts = Counter(r.spec.route_id for r in installed)
        have = {r.spec.route_id: r for r in installed}
        removed = [rid for rid in have if rid not in desired]
        for route_id in removed:
            await self.driver.delete_route(route_id)
        added: list[str] = []
        updated: list[str] = []
        for route_id, spec in desired.items():
            found = have.get(route_id)
            if found is not None and found.current and found.spec == spec and counts[route_id] == 1:
                continue
            if counts[route_id] > 1:
                await self.driver.delete_route(route_id)
            await self.driver.put_route(spec)
            (added if found is None else updated).append(route_id)
        report = ResyncReport(tuple(added), tuple(updated), tuple(removed), base)
        if added or updated or removed or base:
            log.info("proxy resync: %s", report.to_dict())
        return report

    # -- manager hooks ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start or reach Caddy and reconcile; a failure is logged, not fatal (see /health)."""
        if self.driver is None:
            return
        self._cert_changed()  # remember the certificate file as it is now
        try:
            await self.driver.start()
            await self.resync()
        except AtelierError as exc:
            log.error("proxy not ready: %s", exc.message)
        if self._spawn is not None:
            self._spawn("proxy-resync", self.watch)

    async def stop(self) -> None:
        """Stop a child Caddy; a Caddy service keeps serving the routes."""
        if self.driver is not None:
            await self.driver.stop()

    async def watch(self) -> None:
        """Reconcile every `resync_interval_s`, and reload renewed certificate files."""
        while True:
            await asyncio.sleep(self.settings.resync_interval_s)
            await self.tick()

    async def tick(self) -> None:
        """One round of `watch`; errors are logged."""
        if self.driver is None:
            return
        try:
            try:
                await self.resync()
            except ProxyUnavailable:
                # Caddy is gone: a child is started again, a service gets its config back
                # once systemd has restarted it.
                await self.driver.start()
                await self.resync()
            if self._cert_changed():
                log.info("certificate file changed; reloading Caddy's certificates")
                await self.driver.reload_certificates()
        except AtelierError as exc:
            log.warning("proxy resync failed: %s", exc.message)

    def _cert_changed(self) -> bool:
        if self.settings.tls != "wildcard_files":
            return False
        stamp = _stamp(self.settings.cert_file)
        changed = self._cert_stamp is not None and stamp != self._cert_stamp
        self._cert_stamp = stamp
        return changed

    async def status(self) -> ProxyStatus | None:
        """The driver's status (None when the proxy is off)."""
        return None if self.driver is None else await self.driver.status()


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime, st.st_ino
