"""A real Firecracker microVM: boot, run a command through the agent over vsock, snapshot,
restore, stop.

Runs where the configured `firecracker` binary (and `jailer`, when used) and hardware KVM
exist; elsewhere the whole module is skipped with the reason. It boots the kernel that
`images.kernel` selects, the boot bundle, and a copy of the `minimal` image from the host's
configuration (`atelier images build minimal` first).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from atelier.config import AtelierConfig, load_config
from atelier.errors import AtelierError
from atelier.runtime.agent import AgentClient
from atelier.runtime.host import detect, names, proc
from atelier.runtime.vmm.base import BootSpec, Disk, VmHandle, VmState
from atelier.runtime.vmm.firecracker import FirecrackerVmm
from atelier.runtime.vmm.select import firecracker_ready


def _why_not() -> str | None:
    try:
        config = load_config()
    except AtelierError as exc:
        return f"the Atelier configuration does not load: {exc.message}"
    verdict = firecracker_ready(config.vmm, detect.usable_kvm())
    return None if verdict.ok else verdict.reason


WHY_NOT = _why_not()

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(WHY_NOT is not None, reason=f"needs Firecracker and KVM: {WHY_NOT}"),
]


@dataclass(frozen=True)
class BootFiles:
    """What a sandbox boots from: kernel, boot bundle, a private copy of an image."""

    kernel: Path
    bundle: Path
    volume: Path
    release: str


@pytest.fixture
async def workdir() -> AsyncIterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fcr", dir="/tmp"))  # short: it holds sockets
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def config() -> AtelierConfig:
    return load_config()


async def boot_files(config: AtelierConfig, workdir: Path, image: str = "minimal") -> BootFiles:
    """The project's own kernel, boot bundle and image lookup; skips when one is missing."""
    from atelier.runtime.images.bootbundle import build_boot_bundle
    from atelier.runtime.images.catalog import find_image
    from atelier.runtime.images.kernel import resolve_kernel

    try:
        kernel = await resolve_kernel(config)
        bundle = await asyncio.to_thread(build_boot_bundle, kernel, config)
        built = find_image(config, image)
    except AtelierError as exc:
        pytest.skip(f"needs a kernel, boot bundle and the {image!r} image: {exc.message}")
    volume = workdir / "root.img"
    await proc.run(["cp", "--reflink=auto", "--sparse=always", built.path, volume], timeout=600)
    return BootFiles(kernel.vmlinux, bundle, volume, kernel.release)


@contextlib.asynccontextmanager
async def running(driver: FirecrackerVmm, spec: BootSpec) -> AsyncIterator[VmHandle]:
    handle = await driver.boot(spec)
    try:
        yield handle
    finally:
        await driver.kill(handle)


async def test_boot_exec_snapshot_restore(
    config: AtelierConfig, workdir: Path, artifacts_dir: Path
) -> None:
    files = await boot_files(config, workdir)
    vmm = config.vmm.model_copy(update={"jailer_chroot_base": workdir / "jail"})
    driver = FirecrackerVmm(vmm, workdir / "run")
    token = secrets.token_hex(16)
    spec = BootSpec(
        name=names.vm_name("tst", names.new_id()),
        kernel=files.kernel,
        initrd=files.bundle,
        cmdline=(f"atelier.token={token}", "atelier.services=none"),
        vcpus=1,
        memory_mb=512,
        disks=(Disk(files.volume),),
    )
    state = workdir / "snap" / "vm.state"
    async with running(driver, spec) as handle:
        try:
            started = time.monotonic()
            deadline = started + config.vmm.boot_timeout_s
            async with await AgentClient.wait_ready(handle.agent, token, deadline) as client:
                result = await client.exec(["uname", "-r"])
            assert result.ok and result.text.strip() == files.release
            await driver.pause(handle)
            assert await driver.status(handle) is VmState.PAUSED
            await driver.snapshot(handle, state)
        finally:
            shutil.copy(handle.console_log, artifacts_dir / "console.log")
    restore = dataclasses.replace(
        spec, name=names.vm_name("tst", names.new_id()), restore_from=state
    )
    async with running(driver, restore) as handle:
        try:
            deadline = time.monotonic() + 30
            async with await AgentClient.wait_ready(handle.agent, token, deadline) as client:
                result = await client.exec(["true"])
            assert result.ok
            await driver.stop(handle, timeout=30)
            assert await driver.status(handle) is VmState.STOPPED
        finally:
            with contextlib.suppress(FileNotFoundError):
                shutil.copy(handle.console_log, artifacts_dir / "console-restored.log")
