"""Logging in to a guest's sshd with the sandbox's own key.

The gateway never reads the host's ~/.ssh (no config file, no agent, no default keys): the
only credential offered is the per-sandbox key. The guest's host key is not checked: the
guest regenerates it at every boot and the connection runs over the host-internal path the
network driver gives (bridge address, loopback forward or a Unix socket into a namespace).
"""

from __future__ import annotations

import asyncio
import os
import socket

import asyncssh

from atelier.runtime.ssh.base import Upstream
from atelier.runtime.ssh.config import SshConfig
from atelier.runtime.ssh.errors import UpstreamFailed


async def _unix_socket(path: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, path), timeout)
    except BaseException:
        sock.close()
        raise
    return sock


async def connect_upstream(
    upstream: Upstream, config: SshConfig, *, agent_path: str | None = None
) -> asyncssh.SSHClientConnection:
    """An authenticated connection to the sandbox's sshd as the guest user.

    With `agent_path`, sessions opened on it forward agent requests to that socket (the
    gateway's listener for the client's own agent). Raises UpstreamFailed.
    """
    endpoint = upstream.endpoint
    timeout = config.upstream_timeout_s
    options = asyncssh.SSHClientConnectionOptions(
        username=upstream.username,
        client_keys=[upstream.client_key],
        known_hosts=None,
        agent_path=None,
        agent_forwarding=agent_path or False,
        preferred_auth="publickey",
        host_based_auth=False,
        kbdint_auth=False,
        password_auth=False,
        gss_auth=False,
        gss_kex=False,
        pkcs11_provider=None,
        x509_trusted_certs=None,
        connect_timeout=timeout,
        login_timeout=timeout,
        keepalive_interval=config.keepalive_interval_s,
        keepalive_count_max=config.keepalive_count_max,
        client_version="Atelier_gateway",
    )
    try:
        if endpoint.kind == "unix":
            assert endpoint.path is not None
            sock = await _unix_socket(os.fspath(endpoint.path), timeout)
            return await asyncssh.connect(sock=sock, config=None, options=options)
        return await asyncssh.connect(
            endpoint.host or "127.0.0.1", endpoint.port or 22, config=None, options=options
        )
    except (OSError, TimeoutError, asyncssh.Error) as exc:
        reason = _reason(exc)
        raise UpstreamFailed(
            f"cannot reach the sshd of sandbox {upstream.sandbox_id} at"
            f" {endpoint.dial_string()}: {reason}",
            hint="the sandbox may still be booting; try again, or see"
            f" `atelier sandbox show {upstream.sandbox_id}`",
        ) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, asyncssh.PermissionDenied):
        return "the guest refused the sandbox key (authorized_keys not injected?)"
    if isinstance(exc, asyncssh.Error):
        return exc.reason or type(exc).__name__
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
