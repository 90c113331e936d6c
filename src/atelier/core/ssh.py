"""The SSH service: the gateway's backend, per-sandbox keys and the SSH audit trail.

`SshService` runs the gateway (`start`/`stop`, registered on the manager by `install`),
hands the sandbox lifecycle the authorized_keys line to inject into each guest
(`guest_key_material`), and answers the gateway's questions through the `GatewayBackend`
Protocol: which user a key belongs to, whether they may use a sandbox (owner and members
only, running sandboxes only), and how to reach the guest's sshd. The sandbox lifecycle
provides the sandboxes through the small `SandboxDirectory` Protocol below.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from atelier.config import AtelierConfig
from atelier.core.secrets import SecretBox
from atelier.core.ssh_keys import Clock, SshKeys
from atelier.db import Database
from atelier.db.models import SandboxSshKey
from atelier.db.repos import ssh as repo
from atelier.db.types import utcnow
from atelier.runtime.network.base import Endpoint
from atelier.runtime.ssh import acl
from atelier.runtime.ssh.acl import Decision, Refused, SandboxRef
from atelier.runtime.ssh.base import Identity, Upstream
from atelier.runtime.ssh.errors import UpstreamFailed
from atelier.runtime.ssh.gateway import Gateway
from atelier.runtime.ssh.keys import describe, generate_keypair, import_private_key
from atelier.runtime.ssh.keys import load_or_create_host_key as _host_key

if TYPE_CHECKING:
    from atelier.core.manager import Check, Manager
    from atelier.core.rollback import Rollback
    from atelier.core.spawn import SpawnContext

log = logging.getLogger(__name__)

__all__ = [
    "AuditView",
    "GatewayInfo",
    "GuestKeyMaterial",
    "SandboxDirectory",
    "SandboxRef",
    "SshExtension",
    "SshService",
    "gateway_info",
    "install_ssh",
]

GUEST_AUTHORIZED_KEYS = "/home/{user}/.ssh/authorized_keys"


@runtime_checkable
class SandboxDirectory(Protocol):
    """What the SSH service needs from the sandbox lifecycle."""

    async def ssh_sandbox(self, ref: str) -> SandboxRef | None:
        """The sandbox a client named as its SSH user (an id, or a name if names resolve).

        Without access checks (the SSH service decides). None when there is no such
        sandbox (or it is destroyed); must not raise for unknown references.
        """
        ...

    async def ssh_endpoint(self, sandbox_id: str) -> Endpoint:
        """Where the guest's sshd listens: the network driver's `endpoint(sandbox, 22)`.

        Raises AllocationNotFound, PortNotForwarded or GuestUnreachable (their message is
        shown to the client).
        """
        ...


# The directory itself, or a callable returning it once it exists (the manager builds its
# sandbox service only in start(); pass `lambda: manager.sandboxes`).
DirectorySource = SandboxDirectory | Callable[[], SandboxDirectory]


@dataclass(frozen=True)
class GuestKeyMaterial:
    """What the spawn pipeline writes into a guest so the gateway can log in."""

    sandbox_id: str
    authorized_keys_line: str
    fingerprint: str
    path: str  # where the line goes: the guest user's ~/.ssh/authorized_keys
    owner_uid: int = 1000
    mode: int = 0o600


@dataclass(frozen=True)
class GatewayInfo:
    """How clients reach the gateway and recognise its host key."""

    host: str | None
    port: int
    host_key: str
    fingerprint: str


@dataclass(frozen=True)
class AuditView:
    """One SSH audit event."""

    id: int
    at: datetime
    kind: str
    user_id: str | None
    sandbox_id: str | None
    detail: dict[str, Any]


def gateway_info(config: AtelierConfig, port: int | None = None) -> GatewayInfo:
    """The gateway's address and public host key (the key file is created if missing)."""
    key = _host_key(config.ssh.host_key_file(config.paths.data_dir))
    public = describe(key)
    return GatewayInfo(
        config.ssh.public_host,
        port if port is not None else config.ssh.port,
        public.openssh,
        public.fingerprint,
    )


class SshService:
    """The SSH gateway and everything it needs from the database."""

    def __init__(
        self,
        config: AtelierConfig,
        db: Database,
        secrets: SecretBox,
        directory: DirectorySource | None = None,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.keys = SshKeys(db, clock=clock)
        self._directory = directory
        self.gateway: Gateway | None = None
        self._db = db
        self._secrets = secrets
        self._backend = _Backend(self)
        self._key_lock = asyncio.Lock()

    async def start(self) -> None:
        """Start the gateway (when enabled). Raises SshGatewayError (port, host key)."""
        if not self.config.ssh.enabled or self.gateway is not None:
            return
        if self._directory is None:
            raise RuntimeError("SshService.start() needs a SandboxDirectory")
        host_key = _host_key(self.config.ssh.host_key_file(self.config.paths.data_dir))
        gateway = Gateway(self.config.ssh, host_key, self._backend)
        await gateway.start()
        self.gateway = gateway

    async def stop(self) -> None:
        """Close every SSH connection and stop listening."""
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            await gateway.stop()

    @property
    def directory(self) -> SandboxDirectory:
        """The sandbox directory (resolved now when it was given as a callable)."""
        source = self._directory
        if source is None:
            raise RuntimeError("the SSH service has no SandboxDirectory")
        if isinstance(source, SandboxDirectory):
            return source
        return source()

    @property
    def port(self) -> int:
        """The port the gateway listens on (0 when it is not running)."""
        return self.gateway.port if self.gateway is not None else 0

    def info(self) -> GatewayInfo:
        """Address and host key for clients (`atelier ssh-config`)."""
        return gateway_info(self.config, self.port or None)

    async def probe(self) -> Check:
        """Health of the gateway for /health."""
        from atelier.core.manager import Check  # the manager imports this module

        if not self.config.ssh.enabled:
            return Check("ssh", True, "disabled in the configuration")
        if self.gateway is None or not self.gateway.listening:
            return Check("ssh", False, "the SSH gateway is not listening")
        clients = len(self.gateway.clients)
        return Check("ssh", True, f"listening on port {self.port}, {clients} connection(s)")

    async def guest_key_material(self, sandbox_id: str) -> GuestKeyMaterial:
        """The authorized_keys line to inject into a sandbox, creating its key on first use.

        The private half never leaves the database (encrypted) and the gateway.
        """
        async with self._key_lock, self._db.session() as session:
            row = await repo.sandbox_key(session, sandbox_id)
            if row is None:
                pair = generate_keypair(f"atelier-gateway@{sandbox_id}")
                row = SandboxSshKey(
                    sandbox_id=sandbox_id,
                    public_key=pair.public.openssh,
                    fingerprint=pair.public.fingerprint,
                    private_key=self._secrets.encrypt(pair.private_openssh),
                )
                session.add(row)
        user = self.config.ssh.guest_user
        return GuestKeyMaterial(
            sandbox_id,
            f"{row.public_key} atelier-gateway@{sandbox_id}",
            row.fingerprint,
            GUEST_AUTHORIZED_KEYS.format(user=user),
        )

    async def forget_sandbox(self, sandbox_id: str) -> None:
        """Drop a deleted sandbox's upstream key (idempotent)."""
        async with self._db.session() as session:
            await repo.delete_sandbox_key(session, sandbox_id)

    async def audit_events(
        self, sandbox_id: str | None = None, limit: int = 100
    ) -> list[AuditView]:
        """The newest SSH audit events, newest first."""
        async with self._db.session() as session:
            rows = await repo.audit_events(session, "ssh.", sandbox_id, limit)
            return [
                AuditView(r.id, r.at, r.kind, r.user_id, r.sandbox_id, dict(r.detail)) for r in rows
            ]

    async def _upstream(self, sandbox_id: str) -> Upstream:
        async with self._db.session() as session:
            row = await repo.sandbox_key(session, sandbox_id)
        if row is None:
            raise UpstreamFailed(
                f"sandbox {sandbox_id} has no gateway key",
                hint=f"restart it so the key is injected: `atelier sandbox restart {sandbox_id}`",
            )
        key = import_private_key(self._secrets.decrypt(row.private_key))
        endpoint = await self.directory.ssh_endpoint(sandbox_id)
        return Upstream(sandbox_id, endpoint, key, self.config.ssh.guest_user)

    async def _authorize(self, identity: Identity, ref: str) -> Decision:
        current = await self.keys.identify(identity.fingerprint)
        if current is None or current.user_id != identity.user_id:
            return Refused(
                "key_invalid",
                f"your SSH key {identity.fingerprint} has expired or was removed;"
                " add a key with `atelier ssh-key add`",
            )
        sandbox = await self.directory.ssh_sandbox(ref) if acl.plausible_ref(ref) else None
        return acl.decide(identity.user_id, ref, sandbox)

    async def _audit(
        self, kind: str, identity: Identity | None, sandbox_id: str | None, detail: dict[str, Any]
    ) -> None:
        user_id = identity.user_id if identity else None
        async with self._db.session() as session:
            await repo.add_audit(session, kind, user_id, sandbox_id, detail)
        if identity is not None and kind in ("ssh.connect", "ssh.refused"):
            await self.keys.touch(identity.key_id)


class _Backend:
    """The GatewayBackend view of an SshService."""

    def __init__(self, service: SshService) -> None:
        self._service = service

    async def identify(self, fingerprint: str) -> Identity | None:
        return await self._service.keys.identify(fingerprint)

    async def authorize(self, identity: Identity, ref: str) -> Decision:
        return await self._service._authorize(identity, ref)

    async def upstream(self, sandbox_id: str) -> Upstream:
        return await self._service._upstream(sandbox_id)

    async def audit(
        self, kind: str, identity: Identity | None, sandbox_id: str | None, detail: dict[str, Any]
    ) -> None:
        await self._service._audit(kind, identity, sandbox_id, detail)


class SshExtension:
    """The spawn-pipeline step that lets the gateway into a sandbox (`SandboxExtension`).

    `on_running` writes the sandbox's gateway key into the guest user's authorized_keys
    (replacing the file: Atelier owns it); `on_stopped` closes the sandbox's SSH
    connections and forgets its key, so every boot gets a fresh one.
    """

    name = "ssh"

    def __init__(self, service: SshService) -> None:
        self._service = service

    async def on_running(self, ctx: SpawnContext, rollback: Rollback) -> None:
        assert ctx.client is not None, "the ssh step runs after the agent step"
        material = await self._service.guest_key_material(ctx.request.sandbox_id)
        await ctx.client.write_file(
            material.path,
            (material.authorized_keys_line + "\n").encode(),
            mode=material.mode,
            owner=material.owner_uid,
        )

    async def on_stopped(self, sandbox_id: str) -> None:
        if self._service.gateway is not None:
            self._service.gateway.disconnect_sandbox(sandbox_id)
        await self._service.forget_sandbox(sandbox_id)


def install_ssh(manager: Manager, directory: DirectorySource) -> SshService:
    """Build the SSH service for `manager`: start/stop hooks, `/health` probe, API state,
    and the `ssh` spawn step (`SshExtension`) that injects each sandbox's gateway key.

    Call it from the manager's constructor; `directory` may be `lambda: manager.sandboxes`.
    """
    service = SshService(manager.config, manager.db, manager.secrets, directory)
    manager.extensions.append(SshExtension(service))

    def attach(app: Any) -> None:
        app.state.ssh = service

    manager.on_start(service.start)
    manager.on_stop(service.stop)
    manager.add_probe("ssh", service.probe)
    manager.app_extensions.append(attach)
    return service
