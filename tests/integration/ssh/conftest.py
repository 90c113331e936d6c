"""Fixtures for the gateway tests: a real sshd as the sandbox, a running gateway (see harness)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.integration.ssh.harness import (
    Rig,
    TargetSshd,
    privsep_dir,
    running_rig,
    running_sshd,
    skip_reason,
)


@pytest.fixture(scope="module")
def sshd_host() -> Iterator[None]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with privsep_dir():
        yield


@pytest.fixture(scope="module")
async def target_sshd(
    sshd_host: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TargetSshd]:
    directory = tmp_path_factory.mktemp("target-sshd")
    directory.chmod(0o700)
    async with running_sshd(directory) as target:
        yield target


@pytest.fixture
async def rig(target_sshd: TargetSshd, tmp_path: Path) -> AsyncIterator[Rig]:
    async with running_rig(target_sshd, tmp_path) as ready:
        yield ready
