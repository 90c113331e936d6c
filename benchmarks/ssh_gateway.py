"""The SSH gateway against a direct login to the same sshd: connection time and throughput.

Runs the test harness (a throwaway sshd on loopback as the "sandbox", the gateway in this
process) and the real OpenSSH client: `ssh … true` N times, 256 MiB down (stdout) and up
(stdin), each direct and through the gateway, and the gateway process's peak RSS. Needs
root. Prints per-figure lines and, last, one JSON line. Usage:
    sudo .venv/bin/python benchmarks/ssh_gateway.py [runs]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.ssh.harness import (  # needs the repository root
    SANDBOX,
    Rig,
    privsep_dir,
    running_rig,
    running_sshd,
    skip_reason,
)

from atelier.runtime.host import proc

MiB = 1024 * 1024
SIZE = 256 * MiB


def rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def argv(rig: Rig, direct: bool, *command: str) -> list[str]:
    port = rig.target.port if direct else rig.port
    user = "root" if direct else SANDBOX
    return ["ssh", *rig.common(rig.alice), "-p", str(port), f"{user}@127.0.0.1", *command]


async def timed(args: list[str], stdin: int | None = None) -> float:
    start = time.perf_counter()
    child = await proc.spawn(args, stdin=stdin)
    code = await child.wait()
    if code != 0:
        raise SystemExit(f"{args} exited with {code}")
    return time.perf_counter() - start


async def measure(rig: Rig, runs: int, blob: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    for direct in (True, False):
        label = "direct" if direct else "gateway"
        await timed(argv(rig, direct, "true"))  # warm up: known_hosts, caches
        samples = [await timed(argv(rig, direct, "true")) for _ in range(runs)]
        figures[f"{label}_ssh_true_ms"] = round(1000 * statistics.median(samples), 1)
        down = await timed(argv(rig, direct, f"head -c {SIZE} /dev/zero"))
        figures[f"{label}_down_mib_s"] = round(SIZE / MiB / down, 1)
        with blob.open("rb") as source:
            up = await timed(argv(rig, direct, "cat > /dev/null"), stdin=source.fileno())
        figures[f"{label}_up_mib_s"] = round(SIZE / MiB / up, 1)
    return figures


async def main(runs: int) -> None:
    reason = skip_reason()
    if reason:
        raise SystemExit(reason)
    with privsep_dir(), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        target_dir = root / "sshd"
        target_dir.mkdir(mode=0o700)
        blob = root / "blob"
        with blob.open("wb") as f:
            f.truncate(SIZE)  # sparse: reading it costs no disk I/O
        async with running_sshd(target_dir) as target, running_rig(target, root) as rig:
            public = (rig.tmp / "id_alice.pub").read_text()
            with target.authorized_keys.open("a") as keys:
                keys.write(public)  # alice may also log in directly, for the comparison
            before = rss_mib("VmRSS")
            figures = await measure(rig, runs, blob)
            figures["rss_before_mib"] = round(before, 1)
            figures["rss_peak_mib"] = round(rss_mib("VmHWM"), 1)
    for key, value in figures.items():
        print(f"{key:24} {value}")
    print(json.dumps({"benchmark": "ssh_gateway", "runs": runs, "bytes": SIZE, **figures}))


if __name__ == "__main__":
    os.umask(0o077)
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
