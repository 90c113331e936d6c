"""A real manager (QEMU, reflink pool on XFS, user networking) for end-to-end tests.

`RealManager` runs the manager either in-process (for failure injection) or as a separate
process group the way the systemd unit runs it (for kill-and-restart recovery). Each test
module shares one pool; every VM, volume and socket it creates is checked gone at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from atelier.config import AtelierConfig, LimitsConfig, SandboxDefaults, ServerConfig
from atelier.core.host_admin import local_auth
from atelier.runtime.host import proc
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.ssh.config import SshConfig
from atelier.runtime.storage.config import StorageConfig
from atelier.runtime.vmm.config import VmmConfig
from tests.hostkit import free_port, xfs_pool
from tests.managerkit import paths

pytestmark = [pytest.mark.vm, pytest.mark.root]

ROOT = Path(__file__).resolve().parents[3]
ATELIER = ROOT / ".venv" / "bin" / "atelier"


def manager_config(tmp: Path, pool: Path, port: int, **limits: int) -> AtelierConfig:
    """Real drivers: QEMU, the reflink pool, restricted user networking."""
    return AtelierConfig(
        paths=paths(tmp),
        server=ServerConfig(host="127.0.0.1", port=port),
        storage=StorageConfig(driver="reflink", pool_dir=pool),
        network=NetworkConfig(driver="user"),
        vmm=VmmConfig(driver="qemu", boot_timeout_s=240),
        sandbox=SandboxDefaults(disk_gb=4),
        limits=LimitsConfig(**limits) if limits else LimitsConfig(),
        ssh=SshConfig(listen_host="127.0.0.1", port=free_port()),
    )


async def wait_until_ready(
    url: str, process: asyncio.subprocess.Process, log: Path, *, within_s: float
) -> None:
    """Poll a manager subprocess's /health/ready; fail with its log if it exits or times out."""
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        for _ in range(int(within_s * 10)):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/health/ready")).status_code == 200:
                    return
            if process.returncode is not None:
                break
            await asyncio.sleep(0.1)
    raise AssertionError(f"manager did not become ready:\n{log.read_text()[-3000:]}")


@dataclass
class Credentials:
    token: str
    user_id: str


async def make_user(config: AtelierConfig, username: str, admin: bool = False) -> Credentials:
    """A user and an API token on the manager's database."""
    async with local_auth(config) as auth:
        user = await auth.create_user(username, role="admin" if admin else "member")
        _, token = await auth.create_token(user.id, "tests")
    return Credentials(token, user.id)


class ManagerProcess:
    """`atelier serve` in its own process group, as the systemd unit runs it."""

    def __init__(self, config: AtelierConfig, workdir: Path) -> None:
        self.config = config
        self.config_file = workdir / "sandbox.config.json"
        self.config_file.write_text(json.dumps(json.loads(config.model_dump_json()), indent=2))
        self.log = workdir / "manager.log"
        self.process: asyncio.subprocess.Process | None = None
        self.url = f"http://127.0.0.1:{config.server.port}"

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await proc.spawn(
                [ATELIER, "serve"],
                env={"ATELIER_CONFIG": str(self.config_file)},
                stdout=log,
                stderr=log,
            )
        await wait_until_ready(self.url, self.process, self.log, within_s=60)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the manager's whole process group (VMs live in their own sessions)."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.kill(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.kill(signal.SIGKILL)
                await self.process.wait()


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Path]:
    async with xfs_pool(tmp_path) as mounted:
        yield mounted


async def api(url: str, token: str) -> httpx.AsyncClient:
    """An API client for one user."""
    return httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(600)
    )


def json_of(response: httpx.Response) -> Any:
    assert response.status_code < 400, (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    return response.json()


__all__ = [
    "Credentials",
    "ManagerProcess",
    "api",
    "free_port",
    "json_of",
    "make_user",
    "manager_config",
]
