"""Reaching a guest port from the host: opening endpoints, and forwarders out of a netns.

In production the bridge lives in the root namespace and a guest's address is routable, so
an endpoint is simply `ip:port`. When the bridge driver runs inside a network namespace
(tests), the root namespace has no route to the guests; a `socat` started inside the
namespace then listens on a Unix socket in Atelier's run directory (file-system sockets are
shared across network namespaces) and connects to the guest for each client. Both Caddy
(`unix//path`) and in-process Python can use that socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from ipaddress import IPv4Address
from pathlib import Path

from atelier.runtime.host import names, proc
from atelier.runtime.network.base import Endpoint
from atelier.runtime.network.errors import GuestUnreachable, NetworkError
from atelier.runtime.network.runner import Runner, terminate

_READY_TIMEOUT_S = 5.0
_STOP_WAIT_S = 3.0
_SUN_PATH_MAX = 107


async def open_endpoint(
    endpoint: Endpoint, *, timeout: float = 5.0, what: str = "guest port"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to an endpoint; GuestUnreachable when it refuses or times out."""
    try:
        if endpoint.kind == "unix":
            assert endpoint.path is not None
            coro = asyncio.open_unix_connection(os.fspath(endpoint.path))
        else:
            coro = asyncio.open_connection(endpoint.host, endpoint.port)
        return await asyncio.wait_for(coro, timeout)
    except (OSError, TimeoutError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise GuestUnreachable(
            f"cannot connect to {what} at {endpoint.dial_string()}: {reason}",
            hint="check that the sandbox runs and its service listens on that port",
        ) from exc


def forwarder_args(socket_path: Path, ip: IPv4Address, port: int) -> list[str]:
    """socat's arguments: a Unix listener forking one TCP connection per client."""
    return [
        f"UNIX-LISTEN:{socket_path},fork,unlink-early,mode=600",
        f"TCP:{ip}:{port},connect-timeout=5",
    ]


class NetnsForwarders:
    """socat forwarders from Unix sockets into one network namespace, one per guest port."""

    def __init__(self, runner: Runner, directory: Path) -> None:
        self._run = runner
        self.directory = directory
        self._lock = asyncio.Lock()
        self._children: dict[int, asyncio.subprocess.Process] = {}

    def socket_path(self, sandbox_id: str, port: int) -> Path:
        """The Unix socket exposing a guest port."""
        return self.directory / names.dial_socket(sandbox_id, port)

    def _alive(self, path: Path) -> int | None:
        pid_file = path.with_suffix(".pid")
        try:
            pid = int(pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        argv = proc.process_cmdline(pid) if proc.pid_alive(pid) else []
        if argv and argv[0].endswith("socat") and any(str(path) in a for a in argv):
            return pid
        return None

    async def ensure(self, sandbox_id: str, ip: IPv4Address, port: int) -> Path:
        """A live forwarder to `ip:port`, started when missing; returns its socket path."""
        path = self.socket_path(sandbox_id, port)
        if len(os.fsencode(path)) > _SUN_PATH_MAX:
            raise NetworkError(
                f"dial socket path {path} is longer than {_SUN_PATH_MAX} bytes",
                hint="use a shorter run directory (paths.run_dir)",
            )
        async with self._lock:
            if self._alive(path) is not None and path.exists():
                return path
            self.directory.mkdir(parents=True, exist_ok=True)
            child = await self._run.spawn("socat", *forwarder_args(path, ip, port))
            self._children[child.pid] = child
            path.with_suffix(".pid").write_text(str(child.pid))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + _READY_TIMEOUT_S
            while not path.exists():
                if child.returncode is not None or loop.time() > deadline:
                    await self._stop(child.pid)
                    raise NetworkError(
                        f"socat forwarder for {ip}:{port} did not create {path}",
                        hint="check that socat is installed and the namespace exists",
                    )
                await asyncio.sleep(0.02)
            return path

    async def stop(self, sandbox_id: str | None = None) -> int:
        """Stop the forwarders of one sandbox (or all); returns how many were stopped."""
        stopped = 0
        if not self.directory.exists():
            return 0
        for path in sorted(self.directory.iterdir()):
            parsed = names.parse_dial_socket(path.name)
            if parsed is None or (sandbox_id is not None and parsed[0] != sandbox_id):
                continue
            pid = self._alive(path)
            if pid is not None:
                await self._stop(pid)
                stopped += 1
            for leftover in (path, path.with_suffix(".pid")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
        return stopped

    async def _stop(self, pid: int) -> None:
        await terminate(pid, group=True, timeout=_STOP_WAIT_S)
        child = self._children.pop(pid, None)
        if child is not None:
            await child.wait()
