"""An `OpencodeLauncher` for OpenCode servers that tests run as host processes.

`HostLauncher` maps sandbox ids to running `opencode serve` processes (see
`tests.opencodekit`): the manager reaches each at its loopback URL, and files the manager
writes "into the sandbox" land in that server's HOME.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atelier.core.tasks.guest import OpencodeTarget
from atelier.errors import Unavailable
from atelier.runtime.agent.client import AgentClient
from tests.opencodekit import HostOpencode


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
