"""Booting real VMs in tests: a context manager that always cleans up, and leak checks.

Tests boot the `minimal` image with the configured kernel (built by `.ci/run`'s artifact
phase, or on demand). Disks are ephemeral, so images are never modified. Whatever happens
inside the `with` block, the VM process, its run directory and its sockets are removed, and
its console log is copied into the test's artifact directory first.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from atelier.config import AtelierConfig, load_config
from atelier.core.assets import BootAssets, BootFiles
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.host import names, proc
from atelier.runtime.images.bootbundle import build_boot_bundle
from atelier.runtime.images.kernel import find_kernel
from atelier.runtime.vmm.base import BootSpec, Disk, Nic, VmHandle
from atelier.runtime.vmm.qemu import QemuVmm

BOOT_TIMEOUT_S = 120.0


@dataclass
class BootedVm:
    """A running test VM with a connected agent client."""

    handle: VmHandle
    client: AgentClient
    token: str
    vmm: QemuVmm


def host_config() -> AtelierConfig:
    """The host's configuration (images and kernels as built by `.ci/run`)."""
    return load_config()


_files: dict[str, BootFiles] = {}


async def boot_files(config: AtelierConfig, flavour: str | None = None) -> BootFiles:
    """Kernel + boot bundle (the configured kernel, or one `flavour`), once per session."""
    key = flavour or "configured"
    if key not in _files:
        if flavour is None:
            _files[key] = await BootAssets(config).boot_files()
        else:
            kernel = find_kernel(config, flavour)  # type: ignore[arg-type]  # "custom" | "cloud"
            if kernel is None:
                pytest.skip(
                    f"no {flavour} kernel installed (atelier images kernel build --flavour {flavour})"
                )
            bundle = await asyncio.to_thread(build_boot_bundle, kernel, config)
            _files[key] = BootFiles(kernel, bundle)
    return _files[key]


@contextlib.asynccontextmanager
async def booted_vm(
    config: AtelierConfig,
    *,
    image: str = "minimal",
    memory_mb: int = 512,
    vcpus: int = 1,
    nics: tuple[Nic, ...] = (),
    disks: tuple[Disk, ...] | None = None,
    cmdline: tuple[str, ...] = (),
    artifacts: Path | None = None,
    kind: names.VmKind = "tst",
    netns: str | None = None,
    kernel: str | None = None,
) -> AsyncIterator[BootedVm]:
    """Boot a VM and yield it with a ready agent; tear everything down on exit.

    With `netns`, QEMU runs inside that network namespace (where the VM's TAP lives).
    """
    files = await boot_files(config, kernel)
    vmm = QemuVmm(config.vmm, config.paths.run_dir, netns=netns)
    name = names.vm_name(kind, names.new_id())
    token = secrets.token_urlsafe(24)
    if disks is None:
        built = BootAssets(config).image(image)
        disks = (Disk(built.path, cache="unsafe", ephemeral=True),)
    spec = BootSpec(
        name=name,
        kernel=files.kernel.vmlinux,
        initrd=files.bundle,
        cmdline=(f"atelier.token={token}", f"atelier.hostname={name}", *cmdline),
        vcpus=vcpus,
        memory_mb=memory_mb,
        disks=disks,
        nics=nics,
    )
    handle: VmHandle | None = None
    client: AgentClient | None = None
    try:
        handle = await vmm.boot(spec)
        client = await AgentClient.wait_ready(
            handle.agent, token, deadline=asyncio.get_running_loop().time() + BOOT_TIMEOUT_S
        )
        yield BootedVm(handle, client, token, vmm)
    finally:
        if client is not None:
            await client.close()
        if handle is not None:
            if artifacts is not None:
                with contextlib.suppress(OSError):
                    shutil.copy(handle.console_log, artifacts / f"{name}-console.log")
            await vmm.kill(handle)


def qemu_processes(name: str) -> list[int]:
    """Pids of QEMU processes started for VM `name`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = proc.process_cmdline(int(entry.name))
            if argv and f"guest={name},process={name}" in argv:
                found.append(int(entry.name))
    return found


def leftovers(config: AtelierConfig, name: str) -> list[str]:
    """Everything VM `name` left on the host: processes, its run directory, sockets."""
    problems = [f"qemu process {pid}" for pid in qemu_processes(name)]
    run_dir = QemuVmm(config.vmm, config.paths.run_dir).run_dir(name)
    if run_dir.exists():
        problems.append(f"run directory {run_dir}: {sorted(p.name for p in run_dir.iterdir())}")
    return problems


def new_temp_files(before: set[Path]) -> set[Path]:
    """VM-related temp files that were not there in `before`."""
    return temp_files() - before


def temp_files() -> set[Path]:
    """Temp files a VM could leave: QEMU's disk overlays (`vl.*`) and anything of Atelier's.

    Other processes on the machine (compilers, other tests) create temp files too, so only
    names a VM run could produce are considered.
    """
    found: set[Path] = set()
    for root in (Path("/tmp"), Path("/var/tmp")):
        with contextlib.suppress(OSError):
            found |= {
                p for p in root.iterdir() if p.name.startswith(("vl.", "atl-", "atelier", "qemu"))
            }
    return found
