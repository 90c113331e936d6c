"""Workspace spawn times: cold (boot + clone + init) vs a disk prebuild vs a memory snapshot.

    sudo .venv/bin/python benchmarks/prebuild.py [-n 2]

Runs a real manager in-process (QEMU, a reflink pool on a temporary loop-mounted XFS image,
user networking) with a git daemon on loopback serving a small repository. Three workspaces
share the repo and an init command that does some work:
- `cold`: no prebuild; a spawn boots the base image, clones and runs init;
- `disk`: a disk prebuild only (`prebuild.memory: false`); a spawn clones it and boots;
- `memory`: disk + memory snapshot; a spawn resumes the snapshot's booted guest.
Each figure is create-to-running through the sandbox service (queue, pipeline, guest setup,
secrets, dev commands), median of `-n` spawns; the per-step times of the last spawn of each
kind are printed too, and pause/resume of a running sandbox. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from atelier.config import AtelierConfig, LimitsConfig, PathsConfig, SandboxDefaults
from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.core.sandboxes import CreateRequest
from atelier.core.workspaces.install import Workspaces, install_workspaces
from atelier.runtime.host import proc
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.storage import PoolSpec, setup_pool, teardown_pool
from atelier.runtime.storage.config import StorageConfig
from atelier.runtime.vmm.config import VmmConfig

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@atelier.test"]
INIT = (
    "python3 -c 'import hashlib; [hashlib.sha256(str(i).encode()).digest() for i in range(200000)]'"
    " && echo built > .marker"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def git_daemon(scratch: Path) -> tuple[int, asyncio.subprocess.Process]:
    root, work = scratch / "git", scratch / "work"
    root.mkdir()
    await proc.run(["git", "init", "-q", "--bare", "-b", "main", root / "app.git"], timeout=30)
    await proc.run(["git", "init", "-q", "-b", "main", work], timeout=30)
    for i in range(20):
        (work / f"module{i}.py").write_text(f"VALUE = {i}\n" * 200)
    await proc.run([*GIT, "-C", work, "add", "."], timeout=30)
    await proc.run([*GIT, "-C", work, "commit", "-q", "-m", "initial"], timeout=30)
    await proc.run([*GIT, "-C", work, "push", "-q", root / "app.git", "HEAD:main"], timeout=30)
    port = free_port()
    daemon = await proc.spawn(["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={root}",
                               "--listen=127.0.0.1", f"--port={port}", root])  # fmt: skip
    await asyncio.sleep(0.5)
    return port, daemon


async def spawn_timed(manager: Manager, who: Principal, workspace_id: str) -> tuple[str, float]:
    subscription = manager.bus.subscribe()
    try:
        started = time.monotonic()
        view = await manager.sandboxes.create(who, CreateRequest(workspace_id=workspace_id))
        while view.status not in ("running", "error"):
            event = await subscription.get()
            if event.data.get("id") == view.id and event.type == "sandbox.status":
                view = await manager.sandboxes.get(who, view.id)
        elapsed = (time.monotonic() - started) * 1000
    finally:
        subscription.close()
    if view.status != "running":
        raise SystemExit(f"sandbox {view.id} failed: {view.error}")
    return view.id, elapsed


def definition(name: str, port: int, **prebuild: bool) -> dict[str, Any]:
    return {
        "name": name,
        "image": "minimal",
        "resources": {"vcpus": 1, "memoryMb": 512, "diskGb": 4},
        "repos": [{"url": f"git://10.0.2.100:{port}/app.git", "branch": "main", "path": "app"}],
        "init": [{"name": "build", "command": INIT, "cwd": "app"}],
        "dev": [
            {
                "name": "web",
                "command": "python3 -m http.server 8000",
                "cwd": "app",
                "port": 8000,
                "autostart": True,
            }
        ],
        "secrets": {"env": ["API_KEY"]},
        "prebuild": prebuild,
    }


async def measure(
    manager: Manager, ws: Workspaces, who: Principal, port: int, n: int
) -> dict[str, Any]:
    figures: dict[str, list[float]] = {}
    steps: dict[str, list[dict[str, Any]]] = {}
    builds: dict[str, float] = {}
    for kind, policy in (("cold", {"auto": False}), ("disk", {"memory": False}), ("memory", {})):
        record = await ws.workspaces.create(who, definition(f"bench-{kind}", port, **policy),
                                            {"API_KEY": "bench-secret"})  # fmt: skip
        if kind != "cold":
            started = time.monotonic()
            queued = await ws.prebuilds.request(record.id, "manual")
            await ws.prebuilds.wait(queued.id, 1800)
            built = await ws.prebuilds.get(who, record.id, queued.id)
            if built.status != "ready":
                raise SystemExit(f"prebuild {kind} failed: {built.error}")
            builds[kind] = (time.monotonic() - started) * 1000
            print(f"prebuild ({kind}) took {builds[kind]:.0f} ms", file=sys.stderr)
        for _ in range(n):
            sandbox_id, ms = await spawn_timed(manager, who, record.id)
            figures.setdefault(kind, []).append(ms)
            steps[kind] = (await manager.sandboxes.get(who, sandbox_id)).steps
            print(f"{kind} spawn: {ms:.0f} ms", file=sys.stderr)
            if kind == "memory" and "pause_ms" not in builds:
                started = time.monotonic()
                await manager.sandboxes.pause(who, sandbox_id)
                builds["pause_ms"] = (time.monotonic() - started) * 1000
                started = time.monotonic()
                await manager.sandboxes.resume(who, sandbox_id)
                builds["resume_ms"] = (time.monotonic() - started) * 1000
            await manager.sandboxes.destroy(who, sandbox_id)
    cold, disk, memory = (
        round(statistics.median(figures[k]), 1) for k in ("cold", "disk", "memory")
    )
    return {
        "cold_ms": cold,
        "disk_prebuild_ms": disk,
        "memory_snapshot_ms": memory,
        "prebuild_speedup": round(cold / disk, 2),
        "snapshot_speedup_vs_boot": round(disk / memory, 2),
        "memory_vs_cold_speedup": round(cold / memory, 2),
        "prebuild_build_ms": {k: round(v, 1) for k, v in builds.items() if k in ("disk", "memory")},
        "pause_ms": round(builds["pause_ms"], 1),
        "resume_ms": round(builds["resume_ms"], 1),
        "steps_ms": {k: {s["step"]: s["ms"] for s in v} for k, v in steps.items()},
        "spawns_per_kind": n,
        "load_average": round(os.getloadavg()[0], 2),
    }


async def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    spec = PoolSpec(scratch / "pool.img", scratch / "pool", 24 << 30, "xfs")
    await setup_pool(spec, unit_dir=None)
    port, daemon = await git_daemon(scratch)
    config = AtelierConfig(
        paths=PathsConfig(data_dir=scratch / "data", run_dir=scratch / "run",
                          cache_dir=Path("/var/cache/atelier"), image_dir=Path("/var/lib/atelier/images")),
        storage=StorageConfig(driver="reflink", pool_dir=spec.mount_dir),
        network=NetworkConfig(driver="user", guest_allowed_host_ports=[port]),
        vmm=VmmConfig(driver="qemu", boot_timeout_s=600),
        sandbox=SandboxDefaults(disk_gb=4),
        limits=LimitsConfig(max_sandboxes=20, max_sandboxes_per_user=20),
        ssh={"enabled": False},
    )  # fmt: skip
    manager = Manager(config)
    ws = install_workspaces(manager, None)
    await manager.start()
    try:
        user = await manager.auth.create_user("bench")
        return await measure(manager, ws, Principal(user.id, "bench", "admin"), port, args.n)
    finally:
        await manager.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGKILL)
        await daemon.wait()
        await teardown_pool(spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2, help="spawns of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atl-bench-") as scratch:
        summary = asyncio.run(run(args, Path(scratch)))
    print(
        f"cold workspace spawn {summary['cold_ms']:.0f} ms; from the disk prebuild"
        f" {summary['disk_prebuild_ms']:.0f} ms ({summary['prebuild_speedup']}x); from the memory"
        f" snapshot {summary['memory_snapshot_ms']:.0f} ms ({summary['snapshot_speedup_vs_boot']}x"
        f" vs booting the prebuild, {summary['memory_vs_cold_speedup']}x vs cold)"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
