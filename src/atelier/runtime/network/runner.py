"""Runs the network drivers' host tools, inside a network namespace when one is given.

In production `netns` is None and tools run as they are. Tests put the whole host side
of the bridge driver into a namespace of their own: every tool then runs under
`ip netns exec <netns>`, so nothing touches the root namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from typing import Any

from atelier.runtime.host import proc
from atelier.runtime.network.errors import NetworkError

DEFAULT_TIMEOUT = 15.0
_POLL_S = 0.02


class Runner:
    """Builds and runs argv lists for one network namespace (or the current one)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns

    def argv(self, tool: str, *args: str) -> list[str]:
        """The full argv: the resolved tool, prefixed with `ip netns exec` when needed.

        Raises ToolMissing naming the Debian package when the tool is not installed.
        """
        path = proc.require(tool)
        if self.netns is None:
            return [path, *args]
        return [proc.require("ip"), "netns", "exec", self.netns, path, *args]

    async def run(
        self,
        tool: str,
        *args: str,
        timeout: float = DEFAULT_TIMEOUT,
        check: bool = True,
        input: bytes | None = None,
    ) -> proc.Completed:
        """Run a tool to completion (CommandError when `check` and it fails)."""
        return await proc.run(self.argv(tool, *args), timeout=timeout, check=check, input=input)

    async def ok(self, tool: str, *args: str, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """True when the tool exits 0; its output is discarded."""
        done = await self.run(tool, *args, timeout=timeout, check=False)
        return done.returncode == 0

    async def json(self, tool: str, *args: str, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Run a tool that prints JSON (`ip -j`, `nft -j`) and parse it; None when it fails."""
        done = await self.run(tool, *args, timeout=timeout, check=False)
        if done.returncode != 0:
            return None
        try:
            return json.loads(done.stdout or b"null")
        except json.JSONDecodeError as exc:
            raise NetworkError(
                f"{tool} {' '.join(args)} printed invalid JSON: {exc.msg}",
                hint="check the iproute2/nftables version (Debian 12 or newer)",
            ) from exc

    async def spawn(self, tool: str, *args: str) -> asyncio.subprocess.Process:
        """Start a long-lived tool detached from the caller (its own session)."""
        return await proc.spawn(self.argv(tool, *args))


async def terminate(pid: int, *, group: bool = False, timeout: float = 5.0) -> None:
    """SIGTERM a process (or its process group), SIGKILL it if it outlives `timeout`.

    The caller has already proven the pid is its own (pid file plus command line).
    """
    kill = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        kill(pid, signal.SIGTERM)
    for _ in range(max(1, int(timeout / _POLL_S))):
        if not proc.pid_alive(pid):
            return
        await asyncio.sleep(_POLL_S)
    with contextlib.suppress(ProcessLookupError):
        kill(pid, signal.SIGKILL)
