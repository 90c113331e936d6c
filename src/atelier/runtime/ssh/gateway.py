"""The SSH gateway: an asyncssh server that routes `ssh <sandbox>@host` into sandboxes.

The SSH user name names the sandbox. A client authenticates with a public key registered to
an Atelier user; access to the sandbox is decided afterwards, per channel, so the refusal
can be shown as words on the client's stderr (a key-auth failure can only say "Permission
denied"). Each client connection gets its own login to the guest's sshd with the sandbox's
key, opened on first use, so several users share a sandbox without sharing sessions. The
gateway never connects anywhere itself: forwards are opened by the guest's sshd.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable
from typing import Any

import asyncssh

from atelier.errors import AtelierError
from atelier.runtime.ssh.acl import Allowed, Decision, Refused
from atelier.runtime.ssh.base import GatewayBackend, Identity
from atelier.runtime.ssh.config import SshConfig
from atelier.runtime.ssh.errors import SshGatewayError
from atelier.runtime.ssh.keys import fingerprint
from atelier.runtime.ssh.relay import RELAY_WINDOW, TcpEnd
from atelier.runtime.ssh.sessions import DownSession, Forward, Refusal
from atelier.runtime.ssh.upstream import connect_upstream

log = logging.getLogger(__name__)

_CHECK_FAILED = "the gateway could not check your access right now; try again in a moment"
_STOP_WAIT_S = 5.0
_ids = itertools.count(1)


class _Client(asyncssh.SSHServer):
    """One client connection: its identity, the sandbox it named, its guest logins."""

    def __init__(self, gateway: Gateway) -> None:
        self._gw = gateway
        self.id = next(_ids)
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = "?"
        self.ref = ""
        self.username = ""
        self.identity: Identity | None = None
        self.sandbox_id: str | None = None
        self.started = time.monotonic()
        self.bytes_in = 0
        self.bytes_out = 0
        self.channels = {"session": 0, "forward": 0}
        self.open_sessions = 0
        self._candidate: Identity | None = None
        self._decided = asyncio.Event()
        self._first: Decision | None = None
        self._guests: dict[tuple[str, str | None], asyncio.Task[asyncssh.SSHClientConnection]] = {}

    # Counters used by the relays.

    def count_in(self, n: int) -> None:
        self.bytes_in += n

    def count_out(self, n: int) -> None:
        self.bytes_out += n

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        return self._gw.spawn(coro)

    def channel_done(self, kind: str) -> None:
        if kind == "session":
            self.open_sessions -= 1

    # Connection and authentication.

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername") or ("?", 0)
        self.peer = f"{peer[0]}:{peer[1]}"
        self._gw.clients.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._gw.clients.discard(self)
        for task in self._guests.values():
            if not task.done():
                task.cancel()
            elif not task.cancelled() and task.exception() is None:
                task.result().close()
        if self.identity is not None and self.sandbox_id is not None:
            detail = self._detail()
            detail.update(
                duration_s=round(time.monotonic() - self.started, 3),
                bytes_to_sandbox=self.bytes_in,
                bytes_from_sandbox=self.bytes_out,
                sessions=self.channels["session"],
                forwards=self.channels["forward"],
                error=str(exc) if exc else None,
            )
            self.spawn(self._gw.audit("ssh.disconnect", self.identity, self.sandbox_id, detail))

    def begin_auth(self, username: str) -> bool:
        self.ref = username
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        try:
            identity = await self._gw.backend.identify(fingerprint(key))
        except Exception:
            log.exception("ssh: looking up a client key failed")
            return False
        if identity is not None:
            # asyncssh verifies the signature right after this returns; the last key
            # validated before auth_completed() is the one that logged in.
            self._candidate = identity
        return identity is not None

    async def auth_completed(self) -> None:
        self.identity = self._candidate
        assert self.identity is not None
        self.username = self.identity.username
        decision = await self._authorize()
        self._first = decision
        self._decided.set()
        if isinstance(decision, Allowed):
            self.sandbox_id = decision.sandbox_id
            await self._gw.audit("ssh.connect", self.identity, decision.sandbox_id, self._detail())
        else:
            detail = self._detail() | {"reason": decision.reason, "ref": self.ref[:64]}
            await self._gw.audit("ssh.refused", self.identity, decision.sandbox_id, detail)

    def _detail(self) -> dict[str, Any]:
        assert self.identity is not None
        return {
            "key_id": self.identity.key_id,
            "fingerprint": self.identity.fingerprint,
            "client": self.peer,
            "connection": self.id,
        }

    async def _authorize(self) -> Decision:
        assert self.identity is not None
        try:
            return await self._gw.backend.authorize(self.identity, self.ref)
        except Exception:
            log.exception("ssh: access check for %s failed", self.ref[:64])
            return Refused("error", _CHECK_FAILED)

    # What relayed channels ask for (the sessions.Link protocol).

    async def sandbox(self) -> str:
        await self._decided.wait()
        decision, self._first = self._first, None
        if decision is None:
            decision = await self._authorize()  # later channels re-check: access may change
        if isinstance(decision, Refused):
            raise Refusal(decision.message)
        return decision.sandbox_id

    async def upstream(
        self, sandbox_id: str, agent_path: str | None, *, any_agent: bool = False
    ) -> asyncssh.SSHClientConnection:
        key = (sandbox_id, agent_path)
        if any_agent:
            usable = [k for k, t in self._guests.items() if k[0] == sandbox_id and _usable(t)]
            key = usable[0] if usable else key
        task = self._guests.get(key)
        if task is None or not _usable(task):
            task = asyncio.ensure_future(self._connect_guest(sandbox_id, agent_path))
            self._guests[key] = task
        try:
            return await asyncio.shield(task)
        except AtelierError as exc:
            raise Refusal(f"{exc.message}\n{exc.hint}" if exc.hint else exc.message) from None
        except Exception:
            log.exception("ssh: connecting to sandbox %s failed", sandbox_id)
            raise Refusal(f"the gateway could not connect to sandbox {sandbox_id}") from None

    async def _connect_guest(
        self, sandbox_id: str, agent_path: str | None
    ) -> asyncssh.SSHClientConnection:
        upstream = await self._gw.backend.upstream(sandbox_id)
        return await connect_upstream(upstream, self._gw.config, agent_path=agent_path)

    # Channel requests.

    def session_requested(self) -> DownSession | bool:
        if self.open_sessions >= self._gw.config.max_sessions:
            return False
        self.open_sessions += 1
        self.channels["session"] += 1
        return DownSession(self)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> Awaitable[TcpEnd]:
        if not self._gw.config.port_forwarding:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                "port forwarding is disabled on this gateway",
            )
        self.channels["forward"] += 1
        return Forward(self, dest_host, dest_port, (orig_host, orig_port)).open()

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return False  # remote forwarding (-R) is not relayed; see docs/ssh.md


def _usable(task: asyncio.Task[asyncssh.SSHClientConnection]) -> bool:
    if not task.done():
        return True
    if task.cancelled() or task.exception() is not None:
        return False
    return not task.result().is_closed()


class Gateway:
    """The listening SSH server and its live client connections."""

    def __init__(self, config: SshConfig, host_key: asyncssh.SSHKey, backend: GatewayBackend):
        self.config = config
        self.backend = backend
        self.host_key = host_key
        self.clients: set[_Client] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._acceptor: asyncssh.SSHAcceptor | None = None

    async def start(self) -> None:
        """Listen for clients. Raises SshGatewayError when the address cannot be used."""
        cfg = self.config
        try:
            self._acceptor = await asyncssh.listen(
                cfg.listen_host,
                cfg.port,
                server_factory=self._new_client,
                config=None,
                server_host_keys=[self.host_key],
                server_version="Atelier",
                login_timeout=cfg.login_grace_time_s,
                keepalive_interval=cfg.keepalive_interval_s,
                keepalive_count_max=cfg.keepalive_count_max,
                agent_forwarding=cfg.agent_forwarding,
                x11_forwarding=False,
                allow_pty=True,
                line_editor=False,
                encoding=None,
                window=RELAY_WINDOW,
                password_auth=False,
                kbdint_auth=False,
                host_based_auth=False,
                gss_host=None,
                rdns_lookup=False,
                allow_scp=False,
            )
        except OSError as exc:
            where = f"{cfg.listen_host or '*'}:{cfg.port}"
            raise SshGatewayError(
                f"the SSH gateway cannot listen on {where}: {exc.strerror or exc}",
                hint="choose another ssh.port, or stop what listens there",
            ) from exc
        log.info("ssh gateway listening on port %d", self.port)

    def _new_client(self) -> asyncssh.SSHServer:
        if len(self.clients) >= self.config.max_connections:
            return _Full()
        return _Client(self)

    @property
    def port(self) -> int:
        """The port listened on (useful when configured as 0)."""
        return self._acceptor.get_port() if self._acceptor is not None else 0

    @property
    def listening(self) -> bool:
        """True between start() and stop()."""
        return self._acceptor is not None

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        """Run a task the gateway waits for (or cancels) when it stops."""

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ssh gateway task failed")

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def audit(
        self, kind: str, identity: Identity | None, sandbox_id: str | None, detail: dict[str, Any]
    ) -> None:
        """Record an event; a failing audit store is logged, never shown to clients."""
        try:
            await self.backend.audit(kind, identity, sandbox_id, detail)
        except Exception:
            log.exception("ssh: writing audit event %s failed", kind)

    def disconnect_sandbox(self, sandbox_id: str) -> int:
        """Close the client connections into one sandbox (it stopped); returns how many."""
        closing = [c for c in self.clients if c.sandbox_id == sandbox_id and c.conn is not None]
        for client in closing:
            assert client.conn is not None
            client.conn.disconnect(asyncssh.DISC_BY_APPLICATION, f"sandbox {sandbox_id} stopped")
        return len(closing)

    async def stop(self) -> None:
        """Stop listening, close every client connection and finish pending audit writes."""
        if self._acceptor is not None:
            self._acceptor.close()
            with contextlib.suppress(Exception):
                await self._acceptor.wait_closed()
            self._acceptor = None
        clients = list(self.clients)
        for client in clients:
            if client.conn is not None:
                client.conn.close()
        for client in clients:
            if client.conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.conn.wait_closed(), _STOP_WAIT_S)
        pending = list(self._tasks)
        if pending:
            _done, late = await asyncio.wait(pending, timeout=_STOP_WAIT_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)


class _Full(asyncssh.SSHServer):
    """Turns a client away when the gateway has max_connections already."""

    def __init__(self) -> None:
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn

    def begin_auth(self, username: str) -> bool:
        # After key exchange, not at connect: a client still sending its key exchange when
        # the socket closes sees "Broken pipe" instead of the reason.
        if self._conn is not None:
            asyncio.get_running_loop().call_soon(
                self._conn.disconnect, asyncssh.DISC_TOO_MANY_CONNECTIONS, "too many connections"
            )
        return True
