"""Publishing sandboxes over HTTPS: the proxy service, its access gate and its wiring.

`install_proxy(manager, directory)` builds everything from the manager's config and
registers the start/stop hooks, the `/health` probe and `app.state.proxy` for the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from atelier.core.proxy.access import (
    HANDOFF_PATH,
    NOT_FOUND,
    AccessGate,
    Answer,
    ForwardedRequest,
    SetCookie,
)
from atelier.core.proxy.directory import (
    SERVICE_PORTS,
    VISIBILITIES,
    DevPortRef,
    DevRoute,
    PlatformService,
    RunningSandbox,
    SandboxDirectory,
    SandboxRef,
    Visibility,
)
from atelier.core.proxy.service import ProxyService, ResyncReport
from atelier.core.proxy.tokens import HostCookies, ProxyKeys
from atelier.runtime.proxy.base import (
    ASK_PATH,
    AUTHORIZE_PATH,
    HANDSHAKE_PATH,
    HEADER_HOST,
    HEADER_SECRET,
    ProxyDriver,
)
from atelier.runtime.proxy.caddy import CaddyDriver
from atelier.runtime.proxy.config import resolve
from atelier.runtime.proxy.process import CaddyProcess

if TYPE_CHECKING:
    from atelier.core.manager import Check, Manager

__all__ = [
    "ASK_PATH",
    "AUTHORIZE_PATH",
    "HANDOFF_PATH",
    "HANDSHAKE_PATH",
    "HEADER_HOST",
    "HEADER_SECRET",
    "NOT_FOUND",
    "SERVICE_PORTS",
    "VISIBILITIES",
    "AccessGate",
    "Answer",
    "DevPortRef",
    "DevRoute",
    "ForwardedRequest",
    "PlatformService",
    "ProxyService",
    "ResyncReport",
    "RunningSandbox",
    "SandboxDirectory",
    "SandboxRef",
    "SetCookie",
    "Visibility",
    "install_proxy",
]


def install_proxy(
    manager: Manager, directory: SandboxDirectory, *, driver: ProxyDriver | None = None
) -> ProxyService:
    """Build the proxy service for `manager` and register its hooks, probe and API state.

    Register it after the sandbox reconcile hook, so the first resync sees true statuses.
    `driver` replaces the Caddy driver (tests); by default `proxy.caddy` decides: off (no
    driver), service (a Caddy started by systemd) or child (the manager starts Caddy).
    """
    config = manager.config
    settings = resolve(
        config.proxy,
        data_dir=config.paths.data_dir,
        run_dir=config.paths.run_dir,
        manager_host=config.server.host,
        manager_port=config.server.port,
    )
    keys = ProxyKeys.from_data_dir(config.paths.data_dir)
    if driver is None and settings.mode != "off":
        process = CaddyProcess(settings) if settings.mode == "child" else None
        driver = CaddyDriver(settings, keys.caddy_secret, process=process)
    cookies = HostCookies(keys.cookie_key, settings.cookie_ttl_s)
    access = AccessGate(
        settings, manager.auth, directory, caddy_secret=keys.caddy_secret, cookies=cookies
    )
    service = ProxyService(
        settings,
        driver,
        directory,
        access,
        bus=manager.bus,
        spawn=manager.background.spawn,
    )

    async def probe() -> Check:
        from atelier.core.manager import Check

        status = await service.status()
        if status is None:
            return Check("proxy", True, "off (proxy.caddy = off)")
        detail = f"{status.detail}; {status.certificate.detail}"
        return Check("proxy", status.ok, detail)

    def attach(app: Any) -> None:
        app.state.proxy = service

    manager.add_probe("proxy", probe)
    manager.on_start(service.start)
    manager.on_stop(service.stop)
    manager.app_extensions.append(attach)
    return service
