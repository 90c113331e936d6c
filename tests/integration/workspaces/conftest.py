"""Workspaces against real components: `atelier serve` with QEMU, a reflink pool, user
networking, Caddy as the manager's child, and a git daemon on loopback serving a repo.

The guest reaches the git daemon through the user driver's guest forward
(`10.0.2.100:<port>` in the guest is `127.0.0.1:<port>` on the host); the host's staleness
check asks `127.0.0.1` directly. Everything is stopped and removed at the end, also when
the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from atelier.config import AtelierConfig, LimitsConfig, SandboxDefaults, ServerConfig
from atelier.runtime.host import proc
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.proxy.config import ProxyConfig
from atelier.runtime.ssh.config import SshConfig
from atelier.runtime.storage.config import StorageConfig
from atelier.runtime.vmm.config import VmmConfig
from tests.hostkit import free_port, qemu_pids, xfs_pool
from tests.managerkit import paths

DOMAIN = "atelier.test"
GIT = ["git", "-c", "user.name=Atelier Test", "-c", "user.email=test@atelier.test"]


@dataclass
class GitServer:
    """A git daemon on 127.0.0.1 serving `app.git`, and a work tree to push from."""

    port: int
    bare: Path
    work: Path

    def guest_url(self, services_addr: str = "10.0.2.100") -> str:
        return f"git://{services_addr}:{self.port}/app.git"

    async def commit(self, name: str, text: str) -> str:
        (self.work / name).write_text(text)
        await proc.run([*GIT, "-C", self.work, "add", name], timeout=30)
        await proc.run([*GIT, "-C", self.work, "commit", "-q", "-m", f"add {name}"], timeout=30)
        await proc.run([*GIT, "-C", self.work, "push", "-q", "origin", "HEAD:main"], timeout=30)
        done = await proc.run(["git", "-C", self.work, "rev-parse", "HEAD"], timeout=30)
        return done.text.strip()


@contextlib.asynccontextmanager
async def git_server(tmp: Path) -> AsyncIterator[GitServer]:
    """A repository with one commit on `main`, served read-only by `git daemon`."""
    root = tmp / "git"
    bare, work = root / "app.git", tmp / "work"
    root.mkdir()
    await proc.run(["git", "init", "-q", "--bare", "-b", "main", bare], timeout=30)
    await proc.run(["git", "init", "-q", "-b", "main", work], timeout=30)
    await proc.run(["git", "-C", work, "remote", "add", "origin", bare], timeout=30)
    server = GitServer(free_port(), bare, work)
    await server.commit("README.md", "# app\n")
    daemon = await proc.spawn([
        "git", "daemon", "--reuseaddr", "--export-all", f"--base-path={root}",
        "--listen=127.0.0.1", f"--port={server.port}", root,
    ])  # fmt: skip
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.close()
                break
            await asyncio.sleep(0.1)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGKILL)
        await daemon.wait()


def workspace_config(
    tmp: Path, pool: Path, *, port: int, git_port: int, proxy: bool
) -> AtelierConfig:
    """Real drivers, the git port forwarded into guests, and optionally Caddy over plain HTTP."""
    proxy_config = (
        ProxyConfig(
            caddy="child",
            domain=DOMAIN,
            http_port=free_port(),
            https_port=free_port(),
            listen=["127.0.0.1"],
            tls="off",
        )
        if proxy
        else ProxyConfig()
    )
    return AtelierConfig(
        paths=paths(tmp),
        server=ServerConfig(host="127.0.0.1", port=port),
        storage=StorageConfig(driver="reflink", pool_dir=pool),
        network=NetworkConfig(driver="user", guest_allowed_host_ports=[git_port]),
        vmm=VmmConfig(driver="qemu", boot_timeout_s=240),
        sandbox=SandboxDefaults(disk_gb=4),
        limits=LimitsConfig(),
        proxy=proxy_config,
        ssh=SshConfig(port=0),
    )


def file_contains(path: Path, needles: list[bytes], chunk: int = 8 << 20) -> bool:
    """Whether any needle occurs in the file, reading only its data extents (disk images and
    memory files are sparse: their holes are zeros and cannot hold a needle)."""
    overlap = max(len(n) for n in needles) - 1
    with path.open("rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                return False
            end = os.lseek(fd, start, os.SEEK_HOLE)
            position, tail = start, b""
            while position < end:
                fh.seek(position)
                data = tail + fh.read(min(chunk, end - position))
                if any(n in data for n in needles):
                    return True
                tail = data[-overlap:] if overlap else b""
                position += chunk
            offset = end
    return False


async def kill_vms(tmp: Path) -> list[int]:
    """Kill every QEMU process started under `tmp` (a failed test's VMs) and wait for them."""
    killed = []
    for pid, argv in qemu_pids().items():
        if any(str(tmp) in part for part in argv):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            await proc.wait_for_exit(pid, 10)
            killed.append(pid)
    return killed


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Path]:
    async with xfs_pool(tmp_path) as mounted:
        yield mounted
