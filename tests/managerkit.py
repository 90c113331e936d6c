"""Managers for tests: configs in a temp directory, in-process apps, and subprocess servers.

`unit_manager` builds a Manager over fakes (FakeVmm, FakeStorage, no network) for API and
access-control tests that never reach a VM. Integration tests use real drivers through
`real_config` (a reflink pool on a loop-mounted XFS image, user networking or a bridge
inside a test namespace) and the same host images and kernels as `.ci/run` builds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from atelier.config import AtelierConfig, PathsConfig
from atelier.core.assets import BootAssets
from atelier.core.manager import Manager
from atelier.core.runtime import Choice, Runtime
from atelier.runtime.vmm.config import VmmConfig
from tests.fakes.storage import FakeStorage
from tests.fakes.vmm import FakeVmm

HOST_IMAGES = Path("/var/lib/atelier/images")
HOST_CACHE = Path("/var/cache/atelier")


def paths(tmp: Path) -> PathsConfig:
    """Data and run directories in `tmp`; images and build caches shared with the host."""
    return PathsConfig(
        data_dir=tmp / "data", run_dir=tmp / "run", cache_dir=HOST_CACHE, image_dir=HOST_IMAGES
    )


def fake_runtime(config: AtelierConfig) -> Runtime:
    """Drivers that touch nothing on the host."""
    return Runtime(
        vmm=FakeVmm(config.paths.run_dir),
        storage=FakeStorage(),
        network=None,
        assets=BootAssets(config),
        choices={
            "vmm": Choice("fake", "test fake"),
            "storage": Choice("fake", "test fake"),
            "network": Choice("none", "test"),
        },
    )


@asynccontextmanager
async def unit_manager(tmp: Path) -> AsyncIterator[Manager]:
    """A started Manager over fakes with a SQLite database in `tmp`."""
    # The fake VMM starts no agent: fail its spawns fast instead of waiting out a real boot.
    config = AtelierConfig(paths=paths(tmp), vmm=VmmConfig(boot_timeout_s=2))
    manager = Manager(config, runtime=fake_runtime(config))
    await manager.start()
    try:
        yield manager
    finally:
        await manager.stop()
