"""One booted dev-base shared by the dev-base tests of this package (its services take
minutes to start under QEMU TCG, so the agent test and the browser test use the same VM).

The VM is torn down after the package's last test; its console and service logs go to
`test-results/integration-images-dev-base-vm/`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.conftest import ARTIFACTS
from tests.integration.images.devkit import DevVm, booted_dev, ensure_image
from tests.vmkit import host_config


@pytest_asyncio.fixture(scope="package")
async def dev_base() -> AsyncIterator[DevVm]:
    """dev-base, built when missing or stale, booted with 2 GiB and loopback forwards."""
    await ensure_image(host_config(), "dev-base")
    artifacts = ARTIFACTS / "integration-images-dev-base-vm"
    artifacts.mkdir(parents=True, exist_ok=True)
    async with booted_dev("dev-base", artifacts) as dev:
        yield dev
