"""Assembling a full manager: the core plus the optional subsystems.

`build_manager(config)` is what `atelier serve` runs: the Manager, the proxy (routes and
access control through Caddy), and the extensions that tie them into the sandbox
lifecycle. Tests that need only the core construct `Manager` directly.
"""

from __future__ import annotations

import logging

from atelier.config import AtelierConfig
from atelier.core.directory import SandboxFacts
from atelier.core.manager import Manager
from atelier.core.proxy import ProxyService, install_proxy
from atelier.core.registry import install_registry, with_cache_ports
from atelier.core.rollback import Rollback
from atelier.core.runtime import Runtime
from atelier.core.spawn import SpawnContext
from atelier.core.ssh import install_ssh
from atelier.core.tasks.system import install_tasks
from atelier.core.tasks.workspace_adapter import WorkspaceAdapter
from atelier.core.workspaces.install import install_workspaces
from atelier.errors import AtelierError

log = logging.getLogger(__name__)


class ProxyRoutes:
    """Spawn step `routes`: publish the sandbox's services through the proxy."""

    name = "routes"

    def __init__(self, proxy: ProxyService, facts: SandboxFacts) -> None:
        self._proxy = proxy
        self._facts = facts

    async def on_running(self, ctx: SpawnContext, rollback: Rollback) -> None:
        sandbox_id = ctx.request.sandbox_id
        endpoints = await self._facts.endpoints(sandbox_id)
        if not endpoints:
            return
        await self._proxy.sandbox_running(sandbox_id, endpoints)
        rollback.push(
            f"remove routes of {sandbox_id}", lambda: self._proxy.sandbox_stopped(sandbox_id)
        )

    async def on_stopped(self, sandbox_id: str) -> None:
        try:
            await self._proxy.sandbox_stopped(sandbox_id)
        except AtelierError as exc:
            # The periodic resync removes routes the proxy missed while Caddy was down.
            log.warning("could not remove routes of %s now: %s", sandbox_id, exc)


def build_manager(config: AtelierConfig, *, runtime: Runtime | None = None) -> Manager:
    """The manager with every subsystem the configuration enables.

    With the package caches on, their ports join the host ports guests may reach.
    """
    manager = Manager(with_cache_ports(config), runtime=runtime)
    facts = SandboxFacts(manager)
    proxy = install_proxy(manager, facts)
    manager.extensions.append(ProxyRoutes(proxy, facts))
    if config.server.mode != "mock":  # mock guests have no network and no sshd
        install_ssh(manager, facts)
    install_registry(manager)
    workspaces = install_workspaces(manager, proxy, facts)
    install_tasks(manager, workspaces=WorkspaceAdapter(workspaces))
    return manager
