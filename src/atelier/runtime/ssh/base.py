"""What the gateway asks of the rest of Atelier: the `GatewayBackend` Protocol and its data.

The gateway knows SSH; the backend (the core `SshService`) knows users, keys, sandboxes and
the audit log. Keeping that behind a Protocol lets the gateway be tested with an in-memory
backend and keeps `atelier.runtime` free of database code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import asyncssh

from atelier.runtime.network.base import Endpoint
from atelier.runtime.ssh.acl import Decision


@dataclass(frozen=True)
class Identity:
    """A client that proved possession of a registered key."""

    user_id: str
    username: str
    key_id: str
    fingerprint: str


@dataclass(frozen=True)
class Upstream:
    """How the gateway logs in to one sandbox's sshd."""

    sandbox_id: str
    endpoint: Endpoint
    client_key: asyncssh.SSHKey
    username: str = "dev"


@runtime_checkable
class GatewayBackend(Protocol):
    """Identity, access, guest keys and audit for the gateway."""

    async def identify(self, fingerprint: str) -> Identity | None:
        """The owner of the registered key with this fingerprint, if it is usable now.

        None when the key is unknown, expired or its user is disabled. Never raises for
        those; database failures propagate (the client then sees the auth fail).
        """
        ...

    async def authorize(self, identity: Identity, ref: str) -> Decision:
        """Whether `identity` may use the sandbox the client named `ref` right now.

        Re-checks the key (it may have expired or been removed since login), then the
        sandbox's existence, access list and status.
        """
        ...

    async def upstream(self, sandbox_id: str) -> Upstream:
        """Where the sandbox's sshd is and the key to log in with.

        Raises an AtelierError (e.g. GuestUnreachable, NotFound) whose message the client
        is shown.
        """
        ...

    async def audit(
        self, kind: str, identity: Identity | None, sandbox_id: str | None, detail: dict[str, Any]
    ) -> None:
        """Record a security event (`ssh.connect`, `ssh.disconnect`, `ssh.refused`)."""
        ...
