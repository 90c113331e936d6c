"""Host fixtures shared by integration tests: loop-mounted reflink pools, free ports, leak checks."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from atelier.runtime.host import proc
from atelier.runtime.storage import PoolSpec, setup_pool, teardown_pool

GIB = 1 << 30


@asynccontextmanager
async def xfs_pool(tmp: Path, size_gib: int = 16) -> AsyncIterator[Path]:
    """A reflink-capable XFS pool on a loop device in `tmp`, unmounted and detached on exit."""
    spec = PoolSpec(tmp / "pool.img", tmp / "pool", size_gib * GIB, "xfs")
    await setup_pool(spec, unit_dir=None)
    try:
        yield spec.mount_dir
    finally:
        await teardown_pool(spec)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def qemu_pids() -> dict[int, list[str]]:
    """Every running QEMU process with its argv."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = proc.process_cmdline(int(entry.name))
            if argv and os.path.basename(argv[0]).startswith("qemu-system"):
                found[int(entry.name)] = argv
    return found


def vms_named(fragment: str) -> list[int]:
    """Pids of QEMU processes whose -name contains `fragment`."""
    return [pid for pid, argv in qemu_pids().items() if any(fragment in a for a in argv)]
