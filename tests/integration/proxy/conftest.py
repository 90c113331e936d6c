"""Fixtures for proxy integration tests: the real Caddy, a real manager, recording upstreams.

Each fixture stops what it started in its `finally`, also when the test fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.integration.proxy.harness import Recorder, Stack, caddy_missing


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    """Caddy (tls internal) + manager + fake directory on loopback."""
    reason = caddy_missing()
    if reason:
        pytest.skip(reason)
    async with Stack() as running:
        yield running


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A recording upstream standing in for a guest service."""
    upstream = Recorder()
    try:
        yield upstream
    finally:
        upstream.close()
