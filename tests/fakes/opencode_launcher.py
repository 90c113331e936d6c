"""`OpencodeLauncher`s for OpenCode servers that tests run as host processes.

`HostLauncher` maps sandbox ids to running `opencode serve` processes (see
`tests.opencodekit`): the manager reaches each at its loopback URL, and files the manager
writes "into the sandbox" land in that server's HOME.

`SpawningHostLauncher` starts one host `opencode serve` per sandbox when the manager's
spawn step asks (for the sandboxes `wanted` accepts; the others have "no OpenCode"), with
the password the manager hands over, so a real VM sandbox made by a task gets a real
OpenCode. Its home is a host path the guest shares by name: the task's scratch repository
is created at that path inside the VM (git through the agent) and OpenCode works in the
same path on the host.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atelier.core.tasks.guest import OpencodeTarget
from atelier.errors import Unavailable
from atelier.runtime.agent.client import AgentClient
from tests.opencodekit import HostOpencode, start_opencode, stop_opencode


@dataclass
class HostLauncher:
    """Implements `OpencodeLauncher` over host OpenCode processes."""

    servers: dict[str, HostOpencode] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)

    def home(self, sandbox_id: str) -> str:
        return str(self.servers[sandbox_id].home)

    async def start(self, sandbox_id: str, agent: AgentClient, password: str) -> bool:
        self.started.append(sandbox_id)
        return sandbox_id in self.servers

    async def target(self, sandbox_id: str) -> OpencodeTarget:
        server = self.servers.get(sandbox_id)
        if server is None:
            raise Unavailable(f"no host OpenCode for {sandbox_id}")
        return OpencodeTarget(server.url)

    async def stop(self, sandbox_id: str) -> None:
        return None


async def _everyone(sandbox_id: str) -> bool:
    return True


@dataclass
class SpawningHostLauncher:
    """Implements `OpencodeLauncher` by starting a host OpenCode for each wanted sandbox.

    `config` is every server's global opencode.json (normally the scripted model's
    `provider_config`). `close()` stops whatever is still running.
    """

    root: Path
    config: dict[str, Any]
    wanted: Callable[[str], Awaitable[bool]] = _everyone
    servers: dict[str, HostOpencode] = field(default_factory=dict)

    def home(self, sandbox_id: str) -> str:
        return str(self.root / sandbox_id / "home")

    async def start(self, sandbox_id: str, agent: AgentClient, password: str) -> bool:
        if not await self.wanted(sandbox_id):
            return False
        await self.stop(sandbox_id)  # a restarted sandbox gets a fresh server
        home = Path(self.home(sandbox_id))
        settings = home / ".config" / "opencode"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "opencode.json").write_text(json.dumps(self.config))
        # The scratch repository of a task without repositories: `<home>/<opencode.workdir>`.
        self.servers[sandbox_id] = await start_opencode(home, home / "workspace", password)
        return True

    async def target(self, sandbox_id: str) -> OpencodeTarget:
        server = self.servers.get(sandbox_id)
        if server is None:
            raise Unavailable(f"no host OpenCode for {sandbox_id}")
        return OpencodeTarget(server.url)

    async def stop(self, sandbox_id: str) -> None:
        server = self.servers.pop(sandbox_id, None)
        if server is not None:
            await stop_opencode(server)

    async def close(self) -> None:
        for sandbox_id in list(self.servers):
            await self.stop(sandbox_id)
