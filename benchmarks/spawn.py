"""Spawn overhead, concurrency, per-sandbox host memory and death detection, in one run.

    sudo .venv/bin/python benchmarks/spawn.py [-n 3] [--concurrent 10]

Runs a real manager in-process (QEMU, a reflink pool on a temporary loop-mounted XFS image,
user networking) and measures, for the `minimal` image:
- bare VMM boot-to-agent vs API create-to-running (`overhead_ms_p50`), with the median of
  each spawn step the pipeline recorded (`steps_ms_p50`: where the time goes);
- N concurrent creates vs a single one (`concurrent10_p95_ratio`);
- host memory per idle sandbox excluding the guest's RAM (`host_rss_mb_per_sandbox`):
  the QEMU process's resident memory from /proc/<pid>/smaps minus the mapping that holds
  guest RAM (the anonymous mapping of exactly the guest's memory size);
- death detection: SIGKILL a VM and time until the manager reports the sandbox `error`.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from atelier.config import AtelierConfig, LimitsConfig, PathsConfig, SandboxDefaults
from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.core.sandboxes import CreateRequest
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.host import names
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.storage import PoolSpec, setup_pool, teardown_pool
from atelier.runtime.storage.config import StorageConfig
from atelier.runtime.vmm.base import BootSpec, Disk
from atelier.runtime.vmm.config import VmmConfig
from atelier.runtime.vmm.qemu import QemuVmm


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def rss_without_guest_ram(pid: int, guest_mb: int) -> float:
    """Resident MiB of a QEMU process, leaving out the mapping that is the guest's RAM."""
    total_kb = 0
    size_kb = 0
    guest_kb = guest_mb * 1024
    with open(f"/proc/{pid}/smaps") as fh:
        for line in fh:
            if line.startswith("Size:"):
                size_kb = int(line.split()[1])
            elif line.startswith("Rss:") and size_kb != guest_kb:
                total_kb += int(line.split()[1])
    return round(total_kb / 1024, 1)


async def wait_status(manager: Manager, who: Principal, sandbox_id: str, wanted: set[str]) -> str:
    while True:
        status = (await manager.sandboxes.get(who, sandbox_id)).status
        if status in wanted:
            return status
        await asyncio.sleep(0.02)


async def bare_boot(config: AtelierConfig, manager: Manager) -> float:
    assert manager.runtime is not None
    files = await manager.runtime.assets.boot_files()
    image = manager.runtime.assets.image("minimal")
    vmm = QemuVmm(config.vmm, config.paths.run_dir)
    token = secrets.token_urlsafe(24)
    spec = BootSpec(
        name=names.vm_name("tst", names.new_id()),
        kernel=files.kernel.vmlinux,
        initrd=files.bundle,
        cmdline=(f"atelier.token={token}",),
        vcpus=1,
        memory_mb=image.manifest.recommended_memory_mb,
        disks=(Disk(image.path, cache="unsafe", ephemeral=True),),
    )
    started = time.monotonic()
    handle = await vmm.boot(spec)
    try:
        client = await AgentClient.wait_ready(handle.agent, token, deadline=started + 300)
        elapsed = (time.monotonic() - started) * 1000
        await client.close()
    finally:
        await vmm.kill(handle)
    return elapsed


async def create_timed(manager: Manager, who: Principal) -> tuple[str, float]:
    started = time.monotonic()
    view = await manager.sandboxes.create(who, CreateRequest(image="minimal"))
    status = await wait_status(manager, who, view.id, {"running", "error"})
    if status != "running":
        raise SystemExit(
            f"sandbox {view.id} failed: {(await manager.sandboxes.get(who, view.id)).error}"
        )
    return view.id, (time.monotonic() - started) * 1000


async def run(args: argparse.Namespace, scratch: Path) -> dict[str, object]:
    spec = PoolSpec(scratch / "pool.img", scratch / "pool", 24 << 30, "xfs")
    await setup_pool(spec, unit_dir=None)
    config = AtelierConfig(
        paths=PathsConfig(data_dir=scratch / "data", run_dir=scratch / "run",
                          cache_dir=Path("/var/cache/atelier"), image_dir=Path("/var/lib/atelier/images")),
        storage=StorageConfig(driver="reflink", pool_dir=spec.mount_dir),
        network=NetworkConfig(driver="user"),
        vmm=VmmConfig(driver="qemu", boot_timeout_s=600),
        sandbox=SandboxDefaults(disk_gb=4),
        limits=LimitsConfig(max_concurrent_spawns=args.concurrent, max_sandboxes=50,
                            max_sandboxes_per_user=50),
    )  # fmt: skip
    manager = Manager(config)
    await manager.start()
    user = await manager.auth.create_user("bench")
    who = Principal(user.id, "bench", "admin")
    try:
        bare, api = [], []
        ids: list[str] = []
        steps: dict[str, list[float]] = {}
        for _ in range(args.n):
            bare.append(await bare_boot(config, manager))
            sandbox_id, ms = await create_timed(manager, who)
            api.append(ms)
            ids.append(sandbox_id)
            row = await manager.sandboxes.lookup(sandbox_id)
            assert row is not None
            for record in row.spawn_steps or []:
                steps.setdefault(str(record["step"]), []).append(float(record["ms"]))
            print(
                f"bare boot {bare[-1]:.0f} ms, API create-to-running {ms:.0f} ms", file=sys.stderr
            )
        single = statistics.median(api)
        for sandbox_id in ids:
            await manager.sandboxes.destroy(who, sandbox_id)

        started = time.monotonic()
        results = await asyncio.gather(
            *(create_timed(manager, who) for _ in range(args.concurrent))
        )
        wall = (time.monotonic() - started) * 1000
        concurrent = [ms for _, ms in results]
        print(f"{args.concurrent} concurrent creates: p50 {p(concurrent, 0.5)} ms,"
              f" p95 {p(concurrent, 0.95)} ms, all running after {wall:.0f} ms", file=sys.stderr)  # fmt: skip

        await asyncio.sleep(5)  # let the guests settle into idle
        rss = []
        for sandbox_id, _ in results:
            row = await manager.sandboxes.lookup(sandbox_id)
            assert row is not None and row.vm is not None
            rss.append(rss_without_guest_ram(int(row.vm["pid"]), row.memory_mb))

        victim = results[0][0]
        row = await manager.sandboxes.lookup(victim)
        assert row is not None and row.vm is not None
        killed = time.monotonic()
        os.kill(int(row.vm["pid"]), signal.SIGKILL)
        await wait_status(manager, who, victim, {"error"})
        death_ms = (time.monotonic() - killed) * 1000
        for sandbox_id, _ in results:
            await manager.sandboxes.destroy(who, sandbox_id)
    finally:
        # Whatever happened, no sandbox of this run outlives it.
        for view in await manager.sandboxes.list_visible(who):
            try:
                await manager.sandboxes.destroy(who, view.id)
            except Exception as exc:
                print(f"cleanup of {view.id} failed: {exc}", file=sys.stderr)
        await manager.stop()
        await teardown_pool(spec)
    return {
        "image": "minimal",
        "boots": args.n,
        "bare_boot_ms_p50": round(statistics.median(bare), 1),
        "api_create_to_running_ms_p50": round(single, 1),
        "overhead_ms_p50": round(single - statistics.median(bare), 1),
        "steps_ms_p50": {name: round(statistics.median(ms), 1) for name, ms in steps.items()},
        "concurrent": args.concurrent,
        "concurrent_p50_ms": p(concurrent, 0.5),
        "concurrent_p95_ms": p(concurrent, 0.95),
        f"concurrent{args.concurrent}_p95_ratio": round(p(concurrent, 0.95) / single, 2),
        "host_rss_mb_per_sandbox": round(statistics.median(rss), 1),
        "host_rss_method": "smaps Rss of the QEMU process minus the guest-RAM mapping",
        "death_detection_ms": round(death_ms, 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3, help="sequential boots for the overhead figure")
    parser.add_argument("--concurrent", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atl-bench-") as scratch:
        summary = asyncio.run(run(args, Path(scratch)))
    spawn_steps = summary["steps_ms_p50"]
    assert isinstance(spawn_steps, dict)
    print("spawn steps (p50): " + ", ".join(f"{k} {v:.0f} ms" for k, v in spawn_steps.items()))
    print(
        f"overhead {summary['overhead_ms_p50']} ms (API {summary['api_create_to_running_ms_p50']}"
        f" ms vs bare {summary['bare_boot_ms_p50']} ms); host RSS per idle sandbox"
        f" {summary['host_rss_mb_per_sandbox']} MiB; death detected in {summary['death_detection_ms']} ms"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
