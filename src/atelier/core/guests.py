"""One agent connection per running sandbox.

The pool hands out a connected `AgentClient` for a sandbox, reconnecting lazily after a
drop (or after a manager restart, when the VM was re-adopted). Tokens are decrypted only
here, when a connection is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from atelier.errors import AtelierError
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.agent.endpoint import AgentEndpoint

log = logging.getLogger(__name__)


class AgentPool:
    """Connected agent clients keyed by sandbox id."""

    def __init__(self) -> None:
        self._clients: dict[str, AgentClient] = {}
        self._endpoints: dict[str, tuple[AgentEndpoint, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def register(
        self,
        sandbox_id: str,
        endpoint: AgentEndpoint,
        token: str,
        client: AgentClient | None = None,
    ) -> None:
        """Remember how to reach a sandbox's agent (and an already connected client)."""
        self._endpoints[sandbox_id] = (endpoint, token)
        if client is not None:
            self._clients[sandbox_id] = client

    async def get(self, sandbox_id: str) -> AgentClient:
        """A client for the sandbox's agent; AgentUnavailable when it cannot be reached."""
        client = self._clients.get(sandbox_id)
        if client is not None:
            return client
        lock = self._locks.setdefault(sandbox_id, asyncio.Lock())
        async with lock:
            client = self._clients.get(sandbox_id)
            if client is None:
                endpoint, token = self._endpoints[sandbox_id]
                client = await AgentClient.connect(endpoint, token, timeout=10)
                self._clients[sandbox_id] = client
            return client

    def known(self, sandbox_id: str) -> bool:
        """Whether the pool knows how to reach this sandbox."""
        return sandbox_id in self._endpoints

    async def forget(self, sandbox_id: str) -> None:
        """Close and drop the sandbox's client."""
        self._endpoints.pop(sandbox_id, None)
        self._locks.pop(sandbox_id, None)
        client = self._clients.pop(sandbox_id, None)
        if client is not None:
            with contextlib.suppress(AtelierError, OSError):
                await client.close()

    async def close_all(self) -> None:
        """Close every client (manager stop); the VMs keep running."""
        for sandbox_id in list(self._clients):
            client = self._clients.pop(sandbox_id)
            with contextlib.suppress(AtelierError, OSError):
                await client.close()
