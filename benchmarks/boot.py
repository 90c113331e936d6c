"""Boot the minimal image N times and print per-phase medians.

    sudo .venv/bin/python benchmarks/boot.py [-n 5] [--image minimal] [--vmm qemu|firecracker]
                                             [--machine q35|microvm]

Phases: VMM start (host), kernel to init and init to agent (guest uptime, from the init's
console line), and boot-to-agent (host: VMM spawn until the agent answers `health`).
With `--vmm firecracker` it also times a snapshot and a restore. The last line is one JSON
object: {"vmm", "kernel", "machine", "boots", "vmm_start_ms_p50", "kernel_ms_p50",
"init_ms_p50", "boot_to_agent_ms_p50", "boot_to_agent_ms_p90", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from atelier.config import load_config
from atelier.core.assets import BootAssets
from atelier.core.debug_vm import Timings, guest_milestones
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.host import detect, names
from atelier.runtime.vmm.base import BootSpec, Disk, Vmm
from atelier.runtime.vmm.select import firecracker_ready, make_vmm


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def boot_once(vmm: Vmm, spec: BootSpec, token: str) -> tuple[Timings, dict[str, str]]:
    timings = Timings()
    spawned = time.monotonic()
    handle = await vmm.boot(spec)
    timings.vmm_ms = round((time.monotonic() - spawned) * 1000, 1)
    try:
        client = await AgentClient.wait_ready(handle.agent, token, deadline=spawned + 300)
        timings.agent_ready_ms = round((time.monotonic() - spawned) * 1000, 1)
        guest_milestones(handle.console_log, timings)
        await client.close()
    finally:
        await vmm.kill(handle)
    return timings, dict(handle.extra)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="boots (default 5)")
    parser.add_argument("--image", default="minimal")
    parser.add_argument("--vmm", choices=["qemu", "firecracker"], default="qemu")
    parser.add_argument("--machine", choices=["auto", "q35", "microvm"], default="auto",
                        help="QEMU machine type (auto: q35)")  # fmt: skip
    args = parser.parse_args()

    config = load_config()
    vmm_config = config.vmm.model_copy(update={"driver": args.vmm, "qemu_machine": args.machine})
    if args.vmm == "firecracker":
        ready = firecracker_ready(vmm_config, detect.usable_kvm())
        if not ready.ok:
            print(f"skipped: {ready.reason}")
            print(json.dumps({"vmm": "firecracker", "skipped": ready.reason}))
            return 0
    assets = BootAssets(config)
    files = await assets.boot_files()
    image = assets.image(args.image)
    vmm = make_vmm(vmm_config, config.paths.run_dir)
    results: list[Timings] = []
    extra: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="atl-bench-") as scratch:
        for index in range(args.n):
            token = secrets.token_urlsafe(24)
            disks = (Disk(image.path, cache="unsafe", ephemeral=True),)
            if args.vmm == "firecracker":  # no snapshot=on: boot a private copy
                copy = Path(scratch) / f"disk{index}.img"
                copy.write_bytes(image.path.read_bytes())
                disks = (Disk(copy, cache="unsafe"),)
            spec = BootSpec(
                name=names.vm_name("tst", names.new_id()),
                kernel=files.kernel.vmlinux,
                initrd=files.bundle,
                cmdline=(f"atelier.token={token}",),
                vcpus=1,
                memory_mb=image.manifest.recommended_memory_mb,
                disks=disks,
            )
            timings, extra = await boot_once(vmm, spec, token)
            results.append(timings)
            print(
                f"boot {index + 1}/{args.n}: vmm {timings.vmm_ms:.0f} ms, kernel"
                f" {timings.kernel_ms or 0:.0f} ms, init {timings.init_ms or 0:.0f} ms,"
                f" agent ready {timings.agent_ready_ms:.0f} ms",
                file=sys.stderr,
            )
    agent = [t.agent_ready_ms for t in results]
    summary = {
        "vmm": args.vmm,
        "kernel": files.label,
        "machine": extra.get("machine", ""),
        "accel": extra.get("accel", ""),
        "image": args.image,
        "boots": len(results),
        "vmm_start_ms_p50": p([t.vmm_ms for t in results], 0.5),
        "kernel_ms_p50": p([t.kernel_ms or 0 for t in results], 0.5),
        "init_ms_p50": p([t.init_ms or 0 for t in results], 0.5),
        "boot_to_agent_ms_p50": round(statistics.median(agent), 1),
        "boot_to_agent_ms_p90": p(agent, 0.9),
        "load_average": round(os.getloadavg()[0], 2),
    }
    print(
        f"median: VMM start {summary['vmm_start_ms_p50']} ms, kernel {summary['kernel_ms_p50']} ms,"
        f" init {summary['init_ms_p50']} ms, boot to agent {summary['boot_to_agent_ms_p50']} ms"
        f" (p90 {summary['boot_to_agent_ms_p90']} ms)"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
