"""Fixtures for the dashboard's browser tests: one manager and one browser per module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.web.harness import Stack, browser_missing, dashboard_stack, launch_chromium


@pytest_asyncio.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """The manager + dashboard shared by a module's tests."""
    async with dashboard_stack(tmp_path_factory.mktemp("dash")) as running:
        yield running


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium through Playwright (skipped without it)."""
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def shots(artifacts_dir: Path) -> Path:
    """Where this test's screenshots go."""
    return artifacts_dir
