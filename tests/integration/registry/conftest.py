"""Real package caches for tests: Verdaccio and proxpi installed from the registries into a
temporary registry directory and run as children on free loopback ports.

Installing takes about a minute (npm and pip downloads through the public registries, the
only network these tests use besides loopback); the install is shared by a test module.
Every server is stopped and every file removed afterwards, also on failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atelier.config import AtelierConfig, PathsConfig
from atelier.core.registry import RegistryService
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.registry.config import RegistryConfig
from tests.hostkit import free_port
from tests.managerkit import HOST_CACHE, HOST_IMAGES


def cache_config(tmp: Path) -> AtelierConfig:
    """Caches in child mode on free loopback ports, everything under `tmp`."""
    return AtelierConfig(
        paths=PathsConfig(
            data_dir=tmp / "data", run_dir=tmp / "run", cache_dir=HOST_CACHE, image_dir=HOST_IMAGES
        ),
        network=NetworkConfig(driver="user"),
        registry=RegistryConfig(mode="child", npm_port=free_port(), pypi_port=free_port()),
    )


@pytest.fixture(scope="module")
async def caches(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RegistryService]:
    """Installed and running caches (module-scoped: the install is the slow part)."""
    service = RegistryService(
        cache_config(tmp_path_factory.mktemp("caches")), network_driver="user"
    )
    try:
        await service.install()
        await service.start()
        yield service
    finally:
        await service.stop()
