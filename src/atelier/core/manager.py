"""The manager: the composition root of every core service.

`Manager` owns the database, the event bus, the secret box, the runtime drivers and the
services built on them. `start()` migrates the database, builds the drivers, reconciles the
host with the database and starts the background workers; `stop()` stops the workers but
never the VMs, which outlive the manager by design.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from atelier import __version__
from atelier.config import AtelierConfig
from atelier.core.auth import AuthService
from atelier.core.events import EventBus
from atelier.core.mock import mock_runtime
from atelier.core.reconcile import reconcile
from atelier.core.runtime import Runtime, build_runtime
from atelier.core.sandboxes import SandboxService
from atelier.core.secrets import SecretBox
from atelier.core.spawn import SandboxExtension
from atelier.db import Database
from atelier.db.session import sqlite_url
from atelier.errors import AtelierError, Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One subsystem's health."""

    name: str
    ok: bool
    detail: str
    latency_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "latency_ms": self.latency_ms,
        }


@dataclass
class Background:
    """Long-running tasks the manager owns; cancelled on stop."""

    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s crashed", name)

        task = asyncio.create_task(guarded(), name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def cancel_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


HealthProbe = Callable[[], Awaitable[Check]]


class Manager:
    """Everything a running manager holds."""

    def __init__(self, config: AtelierConfig, *, runtime: Runtime | None = None) -> None:
        self.config = config
        self._runtime_override = runtime
        self.runtime: Runtime | None = None
        self._sandboxes: SandboxService | None = None
        self.version = __version__
        self.started_at = time.time()
        self.mode = config.server.mode
        data_dir = config.paths.data_dir
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        url = (
            config.database.url.get_secret_value() if config.database.url else sqlite_url(data_dir)
        )
        self.db = Database(url)
        self.bus = EventBus()
        self.secrets = SecretBox.from_data_dir(data_dir)
        self.auth = AuthService(self.db)
        self.background = Background()
        self.ready = False
        self._probes: dict[str, HealthProbe] = {"database": self._database_check}
        self._on_start: list[Callable[[], Awaitable[None]]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        # Interfaces mounted by optional subsystems (dashboard, proxy auth) register here.
        self.app_extensions: list[Callable[[Any], None]] = []
        # Subsystems joining the sandbox lifecycle (proxy routes, SSH keys, workspaces).
        self.extensions: list[SandboxExtension] = []

    def add_probe(self, name: str, probe: HealthProbe) -> None:
        """Register a subsystem health check for /health."""
        self._probes[name] = probe

    def on_start(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` during start(), after the database is migrated."""
        self._on_start.append(hook)

    def on_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` during stop(), in reverse registration order."""
        self._on_stop.append(hook)

    @property
    def sandboxes(self) -> SandboxService:
        """The sandbox service (available once the manager has started)."""
        if self._sandboxes is None:
            raise Unavailable("the manager is still starting", hint="retry in a few seconds")
        return self._sandboxes

    async def start(self) -> None:
        """Migrate, build drivers, reconcile the host, run start hooks, then mark ready."""
        await self.db.migrate()
        if self._runtime_override is not None:
            runtime = self._runtime_override
        elif self.mode == "mock":
            log.warning("MOCK MODE: no VMs; sandboxes are agent processes on this host")
            runtime = mock_runtime(self.config)
        else:
            runtime = await build_runtime(self.config, self.db)
        self.runtime = runtime
        if runtime.network is not None:
            report = await runtime.network.setup()
            for change in report.changes:
                log.info("network setup: %s", change)
        self._sandboxes = SandboxService(self.config, self.db, self.bus, self.secrets, runtime)
        self._sandboxes.pipeline.extensions.extend(self.extensions)
        self.add_probe("vmm", self._vmm_check)
        self.add_probe("storage", self._storage_check)
        self.add_probe("network", self._network_check)
        await reconcile(self._sandboxes)
        sandboxes, interval = self._sandboxes, self.config.storage.watch_interval_s
        self.background.spawn("pool-watch", lambda: sandboxes.watch_pool(interval))
        if self.config.limits.idle_stop_minutes is not None:
            self.background.spawn("idle-stop", self._sandboxes.watch_idle)
        for hook in self._on_start:
            await hook()
        self.ready = True
        log.info("manager %s ready (mode %s)", self.version, self.mode)

    async def stop(self) -> None:
        """Stop background work; VMs keep running."""
        self.ready = False
        await self.background.cancel_all()
        if self._sandboxes is not None:
            await self._sandboxes.close()
        for hook in reversed(self._on_stop):
            try:
                await hook()
            except Exception:
                log.exception("stop hook failed")
        await self.db.close()

    async def health(self) -> list[Check]:
        """Every subsystem's check, run concurrently."""

        async def run(name: str, probe: HealthProbe) -> Check:
            started = time.perf_counter()
            try:
                check = await asyncio.wait_for(probe(), 10)
            except AtelierError as exc:
                check = Check(name, False, exc.message)
            except TimeoutError:
                check = Check(name, False, "no answer within 10 s")
            except Exception as exc:
                log.exception("health probe %s failed", name)
                check = Check(name, False, f"probe failed: {exc}")
            latency = round((time.perf_counter() - started) * 1000, 2)
            return Check(check.name, check.ok, check.detail, latency)

        return list(await asyncio.gather(*(run(n, p) for n, p in self._probes.items())))

    async def _database_check(self) -> Check:
        await self.db.ping()
        kind = "SQLite (WAL)" if self.db.is_sqlite else "PostgreSQL"
        return Check("database", True, kind)

    async def _vmm_check(self) -> Check:
        assert self.runtime is not None
        choice = self.runtime.choices["vmm"]
        return Check("vmm", True, f"{choice.driver}: {choice.reason}")

    async def _storage_check(self) -> Check:
        assert self.runtime is not None
        usage = await self.runtime.storage.pool_usage()
        choice = self.runtime.choices["storage"]
        free_gib = usage.free / (1 << 30)
        detail = f"{choice.driver} pool {usage.pool}: {free_gib:.1f} GiB free ({usage.level})"
        return Check("storage", usage.level != "full", detail)

    async def _network_check(self) -> Check:
        assert self.runtime is not None
        choice = self.runtime.choices["network"]
        if self.runtime.network is None:
            return Check("network", True, f"none: {choice.reason}")
        status = await self.runtime.network.status()
        detail = f"{choice.driver}: " + ("; ".join(status.problems) or "healthy")
        return Check("network", status.healthy, detail)
