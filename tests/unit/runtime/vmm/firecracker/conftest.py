"""Fixtures for driving FirecrackerVmm against the fake `firecracker` and `jailer` programs."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from atelier.runtime.host import names
from atelier.runtime.vmm.base import BootSpec, Disk, Nic, VmHandle
from atelier.runtime.vmm.config import VmmConfig
from atelier.runtime.vmm.firecracker import FirecrackerVmm
from tests.fakes.firecracker_server import FakeBinaries, write_fake_binaries


@dataclass(frozen=True)
class Images:
    """Stand-ins for the kernel, initrd, sandbox volume and tools disk."""

    kernel: Path
    initrd: Path
    root_disk: Path
    tools_disk: Path


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Short, so socket paths stay well below the 107-byte limit.
    path = Path(tempfile.mkdtemp(prefix="fc", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def bins(workdir: Path) -> FakeBinaries:
    return write_fake_binaries(workdir / "bin")


@pytest.fixture
def images(workdir: Path) -> Images:
    directory = workdir / "images"
    directory.mkdir()
    files = Images(
        directory / "vmlinux", directory / "initrd", directory / "root.img", directory / "tools.img"
    )
    for path in (files.kernel, files.initrd, files.root_disk, files.tools_disk):
        path.write_bytes(b"\0" * 4096)
        path.chmod(0o644)
    return files


DriverFactory = Callable[..., FirecrackerVmm]


@pytest.fixture
def make_driver(workdir: Path, bins: FakeBinaries) -> DriverFactory:
    def factory(**overrides: Any) -> FirecrackerVmm:
        settings: dict[str, Any] = {
            "firecracker_binary": bins.firecracker,
            "jailer_binary": bins.jailer,
            "use_jailer": False,
            "jailer_chroot_base": workdir / "jail",
            **overrides,
        }
        return FirecrackerVmm(VmmConfig(**settings), workdir / "run")

    return factory


SpecFactory = Callable[..., BootSpec]


@pytest.fixture
def make_spec(images: Images) -> SpecFactory:
    def factory(**overrides: Any) -> BootSpec:
        settings: dict[str, Any] = {
            "name": names.vm_name("tst", names.new_id()),
            "kernel": images.kernel,
            "initrd": images.initrd,
            "cmdline": ("init=/sbin/atelier-init", "quiet"),
            "vcpus": 2,
            "memory_mb": 256,
            "disks": (Disk(images.root_disk), Disk(images.tools_disk, read_only=True)),
            "nics": (Nic(kind="tap", mac="06:00:ac:10:00:02", tap="atl-abcdefgh"),),
            **overrides,
        }
        return BootSpec(**settings)

    return factory


@pytest.fixture
async def started() -> AsyncIterator[list[tuple[FirecrackerVmm, VmHandle]]]:
    """Register (driver, handle) pairs here; they are killed when the test ends."""
    vms: list[tuple[FirecrackerVmm, VmHandle]] = []
    try:
        yield vms
    finally:
        for driver, handle in vms:
            await driver.kill(handle)
