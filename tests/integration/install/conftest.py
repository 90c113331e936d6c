"""Fixtures for the host-install tests: a reflink pool for the update test's manager."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.hostkit import xfs_pool


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Path]:
    """A loop-mounted XFS pool in tmp (unmounted and detached afterwards)."""
    async with xfs_pool(tmp_path) as mounted:
        yield mounted
