"""Boot the installed guest kernel with the boot bundle, gzip vs uncompressed, under QEMU TCG.

A stand-in stage 1 prints the guest uptime when it starts (after loading the bundle's
modules for the cloud kernel) and powers off. Prints per-run figures and, last, one JSON
line with the medians. Usage: python benchmarks/boot_bundle.py [custom|cloud] [runs]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from atelier.config import AtelierConfig, PathsConfig, load_config
from atelier.runtime.host import proc
from atelier.runtime.images import bootbundle, kernel

STAGE1 = """#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
echo "STAGE1-START $(cut -d' ' -f1 /proc/uptime)"
if [ -f /atelier/modules.list ]; then
  dir="/atelier/modroot/lib/modules/$(uname -r)"
  while read -r m; do insmod "$dir/$m"; done < /atelier/modules.list
fi
echo "STAGE1-READY $(cut -d' ' -f1 /proc/uptime)"
poweroff -f
"""


def qemu_argv(vmlinux: Path, bundle: Path) -> list[str]:
    """A q35 TCG guest with the serial console on stdout."""
    return [
        "qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-cpu", "max", "-m", "512",
        "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
        "-no-reboot", "-kernel", str(vmlinux), "-initrd", str(bundle),
        "-append", "console=ttyS0 panic=-1 quiet i8042.noaux",
    ]  # fmt: skip


async def boot_once(vmlinux: Path, bundle: Path) -> dict[str, float]:
    """Seconds from QEMU start to each stage-1 marker, plus the guest's own uptime."""
    started = time.monotonic()
    child = await proc.spawn(qemu_argv(vmlinux, bundle), stdout=asyncio.subprocess.PIPE)
    marks: dict[str, float] = {}
    lines: list[str] = []
    assert child.stdout is not None
    try:
        async with asyncio.timeout(120):
            async for raw in child.stdout:
                line = raw.decode("utf-8", "replace").strip()
                lines.append(line)
                for key in ("STAGE1-START", "STAGE1-READY"):
                    if line.startswith(key):
                        marks[key.lower()] = round(time.monotonic() - started, 3)
                        marks[key.lower() + "-uptime"] = float(line.split()[1])
            await child.wait()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    marks["exit"] = round(time.monotonic() - started, 3)
    if "stage1-ready" not in marks:
        print("no stage 1 marker; console tail:", *lines[-8:], sep="\n  ")
    return marks


async def main(flavour: str, runs: int) -> None:
    """Build both bundle variants in a scratch cache and boot each `runs` times."""
    config = load_config()
    found = kernel.find_kernel(config, "custom" if flavour == "custom" else "cloud")
    if found is None:
        sys.exit(f"no {flavour} kernel installed: run `atelier images kernel build`")
    with tempfile.TemporaryDirectory() as scratch:
        guest = Path(scratch) / "atelier" / "guest"
        guest.mkdir(parents=True)
        (guest / "stage1.sh").write_text(STAGE1)
        (guest / "__init__.py").write_text("")
        paths = PathsConfig(data_dir=Path(scratch) / "d", cache_dir=Path(scratch) / "c")
        local = AtelierConfig(paths=paths)
        results: dict[str, list[dict[str, float]]] = {}
        for compress in (False, True):
            bundle = bootbundle.build_boot_bundle(found, local, guest_dir=guest, compress=compress)
            label = "gzip" if compress else "plain"
            print(f"{label}: {bundle.stat().st_size / 2**20:.2f} MiB")
            results[label] = []
        for run in range(runs):
            for compress, label in ((False, "plain"), (True, "gzip")):
                bundle = bootbundle.build_boot_bundle(
                    found, local, guest_dir=guest, compress=compress
                )
                marks = await boot_once(found.vmlinux, bundle)
                results[label].append(marks)
                print(f"run {run} {label}: {marks}")
    summary: dict[str, object] = {"kernel": found.release, "runs": runs}
    for label, rows in results.items():
        for key in ("stage1-start", "stage1-ready", "stage1-start-uptime"):
            values = [row[key] for row in rows if key in row]
            if values:
                summary[f"{label}_{key}_median"] = round(statistics.median(values), 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(
        main(
            sys.argv[1] if len(sys.argv) > 1 else "custom",
            int(sys.argv[2:3][0]) if len(sys.argv) > 2 else 5,
        )
    )
