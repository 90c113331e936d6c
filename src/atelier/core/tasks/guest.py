"""OpenCode inside sandboxes: starting it with its own password, and reaching it afterwards.

Contract with images (dev-base, see docs/images.md "Per-sandbox secrets"): the image
declares a guest service named `opencode.service` that waits for `opencode.password_file`
and serves OpenCode on `opencode.port` with that password (HTTP Basic, user `opencode`).
The manager writes the password file (owner `dev`, 0600, on the /run tmpfs) at every boot
and starts the service. An image without the service has no OpenCode; tasks refuse it.

`OpencodeLauncher` is that contract as a Protocol (tests run OpenCode as host processes);
`OpencodeAccess` hands out one cached `OpencodeApi` per sandbox and the sandbox's agent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.db.repos import opencode as repo
from atelier.errors import AtelierError, Conflict, NotFound, Unavailable
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.opencode import OpencodeApi, OpencodeClient, OpencodeConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpencodeTarget:
    """Where the manager reaches one sandbox's OpenCode."""

    base_url: str
    uds: str | None = None


class OpencodeLauncher(Protocol):
    """Starts OpenCode in a sandbox and says where it listens and where its user lives."""

    def home(self, sandbox_id: str) -> str:
        """The OpenCode user's home in the sandbox (config and credential files go there)."""
        ...

    async def start(self, sandbox_id: str, agent: AgentClient, password: str) -> bool:
        """Hand OpenCode its password and start it; False when the sandbox has no OpenCode.

        Raises AgentError when the guest refuses.
        """
        ...

    async def target(self, sandbox_id: str) -> OpencodeTarget:
        """How to reach it (NetworkError when the sandbox has no network)."""
        ...

    async def stop(self, sandbox_id: str) -> None:
        """Forget a stopped sandbox (the guest service stops with the VM)."""
        ...


class GuestServiceLauncher:
    """The image's `opencode` service, reached through the network driver."""

    def __init__(self, manager: Manager, config: OpencodeConfig) -> None:
        self._manager = manager
        self._config = config

    def home(self, sandbox_id: str) -> str:
        return self._config.guest_home

    async def start(self, sandbox_id: str, agent: AgentClient, password: str) -> bool:
        config = self._config
        if config.service not in {s.name for s in await agent.service_list()}:
            return False
        await agent.write_file(
            config.password_file, password.encode(), mode=0o600, owner=config.guest_user
        )
        status = await agent.service_status(config.service)
        if status.state not in ("running", "backoff"):
            await agent.service_start(config.service)
        return True

    async def target(self, sandbox_id: str) -> OpencodeTarget:
        runtime = self._manager.runtime
        if runtime is None or runtime.network is None:
            raise Unavailable(f"sandbox {sandbox_id} has no network, so OpenCode is unreachable")
        endpoint = await runtime.network.endpoint(sandbox_id, self._config.port)
        if endpoint.kind == "unix":
            return OpencodeTarget("http://opencode", uds=str(endpoint.path))
        host = f"[{endpoint.host}]" if endpoint.host and ":" in endpoint.host else endpoint.host
        return OpencodeTarget(f"http://{host}:{endpoint.port}")

    async def stop(self, sandbox_id: str) -> None:
        return None


ClientFactory = Callable[[OpencodeTarget, str, str], OpencodeApi]


def http_client_factory(config: OpencodeConfig) -> ClientFactory:
    """Real HTTP clients with the configured timeouts."""

    def build(target: OpencodeTarget, password: str, name: str) -> OpencodeApi:
        return OpencodeClient(
            target.base_url,
            password=password,
            uds=target.uds,
            timeout=config.request_timeout_s,
            probe_timeout=config.probe_timeout_s,
            name=name,
        )

    return build


class OpencodeAccess:
    """One OpenCode client per sandbox, and the sandbox's agent, for background work."""

    def __init__(
        self,
        manager: Manager,
        config: OpencodeConfig,
        launcher: OpencodeLauncher,
        factory: ClientFactory | None = None,
    ) -> None:
        self.manager = manager
        self.config = config
        self.launcher = launcher
        self._factory = factory or http_client_factory(config)
        self._clients: dict[str, OpencodeApi] = {}
        self._lock = asyncio.Lock()

    async def owner(self, sandbox_id: str) -> Principal:
        """The sandbox owner's principal (background work acts on the owner's behalf)."""
        row = await self.manager.sandboxes.lookup(sandbox_id)
        if row is None:
            raise NotFound(f"no sandbox {sandbox_id!r}", field="sandboxId")
        user = await self.manager.auth.get_user(row.owner_id)
        return Principal(user.id, user.username, user.role)

    async def agent(self, sandbox_id: str) -> AgentClient:
        """The running sandbox's agent (Conflict when it is not running)."""
        return await self.manager.sandboxes.guest(await self.owner(sandbox_id), sandbox_id)

    async def password(self, sandbox_id: str) -> str:
        async with self.manager.db.session() as session:
            row = await repo.server(session, sandbox_id)
        if row is None:
            raise Conflict(
                f"sandbox {sandbox_id} has no OpenCode (its image declares no"
                f" {self.config.service!r} service, or it has not started yet)",
                field="sandboxId",
            )
        return self.manager.secrets.decrypt(row.password)

    async def client(self, sandbox_id: str) -> OpencodeApi:
        """The sandbox's OpenCode client (Conflict when it has no OpenCode)."""
        async with self._lock:
            found = self._clients.get(sandbox_id)
            if found is not None:
                return found
            password = await self.password(sandbox_id)
            target = await self.launcher.target(sandbox_id)
            client = self._factory(target, password, f"opencode of {sandbox_id}")
            self._clients[sandbox_id] = client
            return client

    async def forget(self, sandbox_id: str) -> None:
        """Close the sandbox's client (it stopped, or its address changed)."""
        async with self._lock:
            client = self._clients.pop(sandbox_id, None)
        if client is not None:
            try:
                await client.aclose()
            except AtelierError:
                log.debug("closing the OpenCode client of %s failed", sandbox_id)

    async def aclose(self) -> None:
        for sandbox_id in list(self._clients):
            await self.forget(sandbox_id)
