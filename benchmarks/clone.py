"""Clone latency and space of the reflink driver, for 2 GiB and 8 GiB data-filled images.

Creates a loop-mounted btrfs or XFS pool in a temp directory (or uses --pool-dir), writes
two fully allocated images into it (every block holds distinct non-zero data), imports
them as bases, then clones each 1, 10 and 100 times, interleaving the two sizes so both see
the same conditions. Each clone is timed around `Storage.clone()` (the driver's whole path:
name checks, reserve check, FICLONE, sidecar), and the raw FICLONE ioctl is timed apart.
Everything it made is removed, also on failure. The last line is one JSON object.

    sudo .venv/bin/python benchmarks/clone.py [--fs btrfs|xfs] [--pool-dir DIR] [--tmp-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from atelier.runtime.host import names
from atelier.runtime.storage import PoolSpec, setup_pool, teardown_pool
from atelier.runtime.storage._extents import ficlone
from atelier.runtime.storage.config import GIB, MIB, StorageConfig
from atelier.runtime.storage.probe import fs_type, reflink_support
from atelier.runtime.storage.reflink import ReflinkStorage

SIZES = {"2g": 2 * GIB, "8g": 8 * GIB}
ROUNDS = (1, 10, 100)
RAW_SAMPLES = 50


def write_data_image(path: Path, size: int) -> None:
    """A fully allocated image: each MiB is a random 16 MiB pattern slice stamped with its
    offset, so no two blocks are equal and nothing is sparse."""
    pattern = os.urandom(16 * MIB)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        for offset in range(0, size, MIB):
            start = (offset // MIB % 16) * MIB
            chunk = offset.to_bytes(8, "little") + pattern[start + 8 : start + MIB]
            os.pwrite(fd, chunk, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def used_bytes(path: Path) -> int:
    os.sync()
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def raw_ficlone_ms(source: Path, scratch: Path) -> list[float]:
    """The bare ioctl, without the driver, for comparison."""
    times = []
    src = os.open(source, os.O_RDONLY)
    try:
        for index in range(RAW_SAMPLES):
            target = scratch / f"raw-{index}"
            dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                start = time.perf_counter_ns()
                ficlone(src, dst)
                times.append((time.perf_counter_ns() - start) / 1e6)
            finally:
                os.close(dst)
        for index in range(RAW_SAMPLES):
            (scratch / f"raw-{index}").unlink()
    finally:
        os.close(src)
    return times


async def measure(pool_dir: Path) -> dict[str, Any]:
    storage = ReflinkStorage(pool_dir / "pool", StorageConfig(reserve_gb=0, reserve_percent=0))
    scratch = pool_dir / "scratch"
    scratch.mkdir()
    bases = {}
    for label, size in SIZES.items():
        staging = scratch / f"{label}.raw"
        start = time.perf_counter()
        write_data_image(staging, size)
        print(f"wrote {label} data image in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        base = await storage.import_base(staging, names.base_volume(f"bench-{label}", "b0b0b0b0"))
        staging.unlink()
        bases[label] = base
        alloc = base.path.stat().st_blocks * 512
        print(f"  base {base.name}: {alloc / GIB:.2f} GiB allocated", file=sys.stderr)

    samples: dict[str, list[float]] = {label: [] for label in SIZES}
    per_round: dict[str, dict[int, float]] = {label: {} for label in SIZES}
    extra_kib = 0.0
    for count in ROUNDS:
        made: list[str] = []
        round_times: dict[str, list[float]] = {label: [] for label in SIZES}
        before = used_bytes(pool_dir)
        for _ in range(count):
            for label, base in bases.items():  # interleaved: 2g, 8g, 2g, 8g, ...
                name = names.sandbox_volume(names.new_id())
                start = time.perf_counter_ns()
                await storage.clone(base.name, name)
                round_times[label].append((time.perf_counter_ns() - start) / 1e6)
                made.append(name)
        if count == ROUNDS[-1]:
            extra_kib = (used_bytes(pool_dir) - before) / len(made) / 1024
        for label in SIZES:
            samples[label] += round_times[label]
            per_round[label][count] = statistics.median(round_times[label])
        for name in made:
            await storage.delete(name)

    raw = {label: raw_ficlone_ms(base.path, scratch) for label, base in bases.items()}
    p50 = {label: statistics.median(values) for label, values in samples.items()}
    result: dict[str, Any] = {
        "fs": fs_type(pool_dir),
        "clones_per_size": len(samples["2g"]),
        "clone_ms_p50_2g": round(p50["2g"], 4),
        "clone_ms_p50_8g": round(p50["8g"], 4),
        "clone_ms_p99_2g": round(percentile(samples["2g"], 99), 4),
        "clone_ms_p99_8g": round(percentile(samples["8g"], 99), 4),
        "size_ratio": round(p50["8g"] / p50["2g"], 3),
        "extra_blocks_per_clone_kib": round(extra_kib, 2),
        "ficlone_ioctl_ms_p50_2g": round(statistics.median(raw["2g"]), 4),
        "ficlone_ioctl_ms_p50_8g": round(statistics.median(raw["8g"]), 4),
    }
    for label in SIZES:
        for count, value in per_round[label].items():
            result[f"clone_ms_p50_{label}_x{count}"] = round(value, 4)
    for base in bases.values():
        await storage.delete(base.name)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fs", choices=("btrfs", "xfs"), default="btrfs")
    parser.add_argument("--pool-dir", type=Path, help="an existing btrfs/XFS directory")
    parser.add_argument("--tmp-dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    if args.pool_dir is not None:
        verdict = reflink_support(args.pool_dir)
        if not verdict.ok:
            sys.exit(f"--pool-dir cannot reflink: {verdict.reason}")
        work = Path(tempfile.mkdtemp(prefix="atl-bench-", dir=args.pool_dir))
        try:
            result = await measure(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    else:
        if os.geteuid() != 0:
            sys.exit("creating a loop-mounted pool needs root (or pass --pool-dir)")
        temp = Path(tempfile.mkdtemp(prefix="atl-bench-", dir=args.tmp_dir))
        spec = PoolSpec(temp / "pool.img", temp / "mnt", 14 * GIB, args.fs)
        try:
            await setup_pool(spec, unit_dir=None)
            result = await measure(spec.mount_dir)
        finally:
            await teardown_pool(spec)
            shutil.rmtree(temp, ignore_errors=True)

    for key, value in result.items():
        print(f"{key:32} {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
