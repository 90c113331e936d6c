"""Wiring the workspace subsystem into a manager: services, the spawn step, hooks, API state.

`install_workspaces(manager, proxy, facts)` builds the workspace, git-source, prebuild and
dev-command services, appends the `workspace` spawn step (which also plans spawns), gives
the proxy's sandbox directory its dev ports, and registers start hooks (paused sandboxes
recovered, interrupted builds failed, strays removed, the periodic staleness check) and
`app.state.workspaces` for the API.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any

from atelier.core.devcmds import DevCommandService
from atelier.core.directory import SandboxFacts
from atelier.core.manager import Manager
from atelier.core.pause import recover_suspended
from atelier.core.prebuilds.service import PrebuildService
from atelier.core.prebuilds.upkeep import drop_workspace, recover
from atelier.core.proxy import ProxyService
from atelier.core.workspaces.extension import WorkspaceSandboxes
from atelier.core.workspaces.gitsources import GitSources
from atelier.core.workspaces.service import WorkspaceService
from atelier.errors import Unavailable

log = logging.getLogger(__name__)
_INSTALLED: weakref.WeakKeyDictionary[Manager, Workspaces] = weakref.WeakKeyDictionary()


@dataclass
class Workspaces:
    """The workspace subsystem of one manager (`app.state.workspaces`)."""

    workspaces: WorkspaceService
    sources: GitSources
    prebuilds: PrebuildService
    dev: DevCommandService
    spawns: WorkspaceSandboxes


def install_workspaces(
    manager: Manager, proxy: ProxyService | None, facts: SandboxFacts | None = None
) -> Workspaces:
    """Build the subsystem for `manager` and register it (call before `manager.start()`)."""
    config = manager.config

    def runtime() -> Any:
        return manager.runtime

    async def ensure_base(image: str) -> str:
        return await manager.sandboxes.pipeline.ensure_base(image)

    sources = GitSources(manager.db, manager.bus, manager.secrets)
    workspaces = WorkspaceService(
        config, manager.db, manager.bus, manager.secrets, runtime, sources
    )
    prebuilds = PrebuildService(config, manager.db, manager.bus, manager.secrets, workspaces,
                                runtime, ensure_base)  # fmt: skip
    dev = DevCommandService(manager.db, manager.bus, lambda: manager.sandboxes, runtime, proxy)
    spawns = WorkspaceSandboxes(manager.db, workspaces, prebuilds, dev,
                                lambda: manager.sandboxes, runtime)  # fmt: skip
    subsystem = Workspaces(workspaces, sources, prebuilds, dev, spawns)

    async def changed(workspace_id: str, trigger: str) -> None:
        await prebuilds.request(workspace_id, trigger)

    async def deleting(workspace_id: str) -> None:
        await drop_workspace(prebuilds, workspace_id)

    workspaces.on_changed = changed
    workspaces.on_deleting = deleting
    manager.extensions.append(spawns)
    if facts is not None:
        facts.dev = dev

    async def start() -> None:
        await recover_suspended(manager.sandboxes)
        await recover(prebuilds)
        manager.background.spawn("prebuild-staleness", prebuilds.watch)

    def attach(app: Any) -> None:
        app.state.workspaces = subsystem

    manager.on_start(start)
    manager.on_stop(prebuilds.stop)
    manager.app_extensions.append(attach)
    _INSTALLED[manager] = subsystem
    return subsystem


def workspaces_of(manager: Manager) -> Workspaces:
    """The workspace subsystem installed on a manager (Unavailable when there is none)."""
    found = _INSTALLED.get(manager)
    if found is None:
        raise Unavailable(
            "workspaces are not installed on this manager",
            hint="run the manager with `atelier serve`",
        )
    return found
