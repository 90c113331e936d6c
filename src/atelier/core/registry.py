"""The package-cache service: running the caches, their status, and configuring guests.

`RegistryService` knows both caches (Verdaccio for npm, proxpi for PyPI) for one
configuration: it installs them (`atelier init`), runs them as manager children in `child`
mode (under systemd in `service` mode the units do), reports status, size and hit counts
for `/api/registry`, and evicts files unused for `registry.max_age_days`.
`RegistryExtension` is the spawn step that points each guest's npm, pnpm, yarn, bun, pip
and uv at the caches at every boot. `install_registry(manager)` wires it all in.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.config import AtelierConfig
from atelier.errors import AtelierError
from atelier.runtime.network.addressing import host_address
from atelier.runtime.registry import (
    NAMES,
    NPM,
    PYPI,
    CacheProcess,
    Eviction,
    GuestCaches,
    LogCounter,
    RegistrySettings,
    answers,
    disk_usage,
    guest_setup,
    parse_result,
    pypi_cache,
    resolve,
    server_specs,
    servers,
    verdaccio,
)
from atelier.runtime.registry import install as installer
from atelier.runtime.registry.guest import SCRIPT_TIMEOUT

if TYPE_CHECKING:
    from atelier.core.manager import Check, Manager
    from atelier.core.rollback import Rollback
    from atelier.core.spawn import SpawnContext

log = logging.getLogger(__name__)

__all__ = [
    "CacheStatus",
    "RegistryExtension",
    "RegistryService",
    "RegistryStatus",
    "install_registry",
    "registry_settings",
    "with_cache_ports",
]


def registry_settings(config: AtelierConfig, network_driver: str | None) -> RegistrySettings:
    """The resolved registry settings; caches also listen on the bridge address when
    guests reach the host over the bridge driver."""
    guest_host = str(host_address(config.network.subnet)) if network_driver == "bridge" else None
    return resolve(
        config.registry,
        data_dir=config.paths.data_dir,
        npm_registry=config.images.npm_registry,
        pypi_index=config.images.pypi_index,
        guest_host=guest_host,
    )


def with_cache_ports(config: AtelierConfig) -> AtelierConfig:
    """`config` with the cache ports added to the host ports guests may reach."""
    if config.registry.mode == "off":
        return config
    net = config.network
    ports = sorted(
        {*net.guest_allowed_host_ports, config.registry.npm_port, config.registry.pypi_port}
    )
    if ports == sorted(net.guest_allowed_host_ports):
        return config
    network = net.model_copy(update={"guest_allowed_host_ports": ports})
    return config.model_copy(update={"network": network})


@dataclass(frozen=True)
class CacheStatus:
    """One cache: where it listens, whether it answers, what it holds and serves."""

    name: str
    url: str
    running: bool
    pins: dict[str, str]
    installed: dict[str, str]
    storage: Path
    size_bytes: int
    files: int
    counters: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "name": self.name,
            "url": self.url,
            "running": self.running,
            "pins": self.pins,
            "installed": self.installed,
            "storage": str(self.storage),
            "size_bytes": self.size_bytes,
            "files": self.files,
            **self.counters,
        }


@dataclass(frozen=True)
class RegistryStatus:
    """Both caches, with the mode and the eviction age."""

    mode: str
    max_age_days: int
    caches: tuple[CacheStatus, ...] = ()
    last_eviction: tuple[Eviction, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when off, or when every cache answers."""
        return self.mode == "off" or all(c.running for c in self.caches)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data for `/api/registry`."""
        return {
            "mode": self.mode,
            "ok": self.ok,
            "max_age_days": self.max_age_days,
            "caches": [c.to_dict() for c in self.caches],
            "last_eviction": [e.to_dict() for e in self.last_eviction],
        }


class RegistryService:
    """Both package caches for one configuration."""

    def __init__(self, config: AtelierConfig, *, network_driver: str | None = "user") -> None:
        self.config = config
        self.settings = registry_settings(config, network_driver)
        self._processes: dict[str, CacheProcess] = {}
        self._counters = {
            name: LogCounter(spec.log, servers.line_counters()[name])
            for name, spec in server_specs(self.settings).items()
        }
        self._last_eviction: tuple[Eviction, ...] = ()

    def use_network(self, network_driver: str | None) -> None:
        """Re-resolve the listen addresses once the network driver is known (before start)."""
        self.settings = registry_settings(self.config, network_driver)

    async def install(self) -> list[str]:
        """Install (or repair) both caches and write their config; returns the actions."""
        actions = await installer.install_npm_cache(self.settings)
        actions += installer.write_npm_config(self.settings)
        actions += await installer.install_pypi_cache(self.settings)
        return actions

    async def start(self) -> None:
        """Start both caches as children (`child` mode); evict the PyPI cache first."""
        if self.settings.mode != "child":
            return
        installer.write_npm_config(self.settings)
        self._last_eviction = (servers.evict_pypi_cache(self.settings),)
        for name, spec in server_specs(self.settings).items():
            process = self._processes.setdefault(name, CacheProcess(spec))
            await process.start()

    async def stop(self) -> None:
        """Stop the children this service started."""
        for process in self._processes.values():
            await process.stop()
        self._processes.clear()

    async def evict(self) -> tuple[Eviction, ...]:
        """Evict Verdaccio's files unused for `max_age_days` (proxpi's are evicted at its
        start, since it indexes its files then; its size cap applies while it runs)."""
        result = await asyncio.to_thread(servers.evict_npm_cache, self.settings)
        self._last_eviction = (result,)
        if result.files:
            log.info("evicted %d npm cache files (%d bytes)", result.files, result.bytes)
        return self._last_eviction

    async def evict_forever(self) -> None:
        """The manager's eviction loop."""
        while True:
            try:
                await self.evict()
            except OSError as exc:
                log.warning("npm cache eviction failed: %s", exc)
            await asyncio.sleep(self.settings.evict_interval_s)

    async def status(self) -> RegistryStatus:
        """Mode, and for each cache: URL, running, pins, size, files and hit counters."""
        s = self.settings
        if not s.enabled:
            return RegistryStatus(s.mode, s.max_age_days)
        installed = {
            NPM: verdaccio.installed_versions(s),
            PYPI: await installer.pypi_installed(s),
        }
        pins = {NPM: dict(verdaccio.PINS), PYPI: dict(pypi_cache.PINS)}
        urls = {
            NPM: f"http://127.0.0.1:{s.npm_port}/",
            PYPI: pypi_cache.index_url("127.0.0.1", s.pypi_port),
        }
        specs = server_specs(s)
        caches = []
        for name in NAMES:
            storage = servers.storage_dirs(s)[name]
            size, files = await asyncio.to_thread(disk_usage, storage)
            counters = await asyncio.to_thread(self._counters[name].update)
            caches.append(
                CacheStatus(
                    name, urls[name], await answers(specs[name].ping_url), pins[name],
                    installed[name], storage, size, files, counters.to_dict(),
                )
            )  # fmt: skip
        return RegistryStatus(s.mode, s.max_age_days, tuple(caches), self._last_eviction)

    async def answering(self) -> dict[str, bool]:
        """Whether each cache answers its ping (cheap: for the health probe)."""
        specs = server_specs(self.settings)
        return {name: await answers(specs[name].ping_url) for name in NAMES}

    def guest_caches(self, services_host: str) -> GuestCaches | None:
        """Where a guest with this `Allocation.services_host` reaches the caches."""
        if not self.settings.enabled or not services_host:
            return None
        return GuestCaches(services_host, self.settings.npm_port, self.settings.pypi_port)


class RegistryExtension:
    """The spawn step `package_caches`: configure the guest's package managers at boot."""

    name = "package_caches"

    def __init__(self, service: RegistryService) -> None:
        self._service = service

    async def on_running(self, ctx: SpawnContext, rollback: Rollback) -> None:
        if ctx.allocation is None or ctx.client is None:
            return
        caches = self._service.guest_caches(ctx.allocation.services_host)
        if caches is None:
            return
        done = await ctx.client.exec(guest_setup(caches), timeout=SCRIPT_TIMEOUT)
        written, warnings = parse_result(done.stdout.decode("utf-8", "replace"))
        if not done.ok:
            stderr = done.stderr.decode("utf-8", "replace").strip()[-300:]
            warnings.append(f"package cache setup exited with {done.exit_code}: {stderr}")
        ctx.warnings.extend(f"package caches: {w}" for w in warnings)
        log.debug("%s: package caches configured in %s", ctx.request.sandbox_id, written)

    async def on_stopped(self, sandbox_id: str) -> None:
        return None


def install_registry(manager: Manager) -> RegistryService | None:
    """Wire the caches into `manager` (None when `registry.mode` is off): start/stop hooks
    (child mode), the eviction loop, the `/health` probe, `app.state.registry` for
    `/api/registry`, and the guest configuration step."""
    if manager.config.registry.mode == "off":
        return None
    service = RegistryService(manager.config)

    async def start() -> None:
        runtime = manager.runtime
        service.use_network(runtime.choices["network"].driver if runtime else None)
        try:
            await service.start()
        except AtelierError as exc:
            log.error("package caches did not start: %s", exc.message)
        manager.background.spawn("registry-eviction", service.evict_forever)

    async def probe() -> Check:
        from atelier.core.manager import Check

        down = [name for name, ok in (await service.answering()).items() if not ok]
        mode = service.settings.mode
        detail = f"{mode}: " + (f"not answering: {', '.join(down)}" if down else "answering")
        return Check("registry", not down, detail)

    def attach(app: Any) -> None:
        app.state.registry = service

    manager.on_start(start)
    manager.on_stop(service.stop)
    manager.add_probe("registry", probe)
    manager.app_extensions.append(attach)
    manager.extensions.append(RegistryExtension(service))
    return service
