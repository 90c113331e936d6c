"""A cache server run as a child process (`registry.mode = child`, and tests).

The child gets its own session (so the manager's signals never reach it) and appends its
stdout and stderr to its log, the file the hit counters read; under systemd the units do
the same with `StandardOutput=append:`. A server that already answers on its port (left by
an earlier manager run) is adopted rather than started twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import httpx

from atelier.runtime.host import proc
from atelier.runtime.registry.errors import RegistryError, RegistryNotInstalled

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ServerSpec:
    """How to run one cache server."""

    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    log: Path
    ping_url: str
    cwd: Path


async def answers(url: str, timeout: float = 2.0) -> bool:
    """True when `url` answers 2xx."""
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), trust_env=False) as client:
            return (await client.get(url)).is_success
    except httpx.HTTPError:
        return False


class CacheProcess:
    """One cache server owned by the manager or a test fixture."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self._child: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs (None when adopted or stopped)."""
        return self._child.pid if self._child and self._child.returncode is None else None

    async def start(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Start the server and wait until it answers. Raises RegistryNotInstalled when its
        program is missing, RegistryError with the log's tail when it does not come up."""
        if self.pid is not None:
            return
        if await answers(self.spec.ping_url):
            log.warning("%s already answers at %s: adopting it", self.spec.name, self.spec.ping_url)
            return
        program = Path(self.spec.argv[0])
        if not program.exists():
            raise RegistryNotInstalled(
                f"{self.spec.name} is not installed ({program} is missing)",
                hint="run `atelier init` (or `atelier init --only caches`)",
            )
        self.spec.log.parent.mkdir(parents=True, exist_ok=True)
        with self.spec.log.open("ab") as out:
            self._child = await proc.spawn(
                list(self.spec.argv), stdout=out, stderr=out, env=dict(self.spec.env),
                cwd=self.spec.cwd,
            )  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await answers(self.spec.ping_url):
            if self._child.returncode is not None or loop.time() > deadline:
                await self.stop()
                raise RegistryError(
                    f"{self.spec.name} did not start: {self._tail()}",
                    hint=f"see {self.spec.log}; is another program using its port?",
                )
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """SIGTERM the child's group, SIGKILL after a grace period."""
        child, self._child = self._child, None
        if child is not None:
            await proc.stop_group(child, STOP_TIMEOUT_S)

    def _tail(self) -> str:
        try:
            lines = self.spec.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-3:]) or "no output"
