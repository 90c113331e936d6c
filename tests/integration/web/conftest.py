"""Fixtures for the dashboard's browser tests: one manager, one model server and one browser
per module.

The manager's task sandboxes get a real OpenCode on the host that talks to the scripted
model server (`tests.fakes.llm_server`, loopback only) and asks before running shell
commands, so a task's permission request reaches the attention feed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.fakes.llm_server import ScriptedModel, provider_config, serve_model
from tests.integration.web.harness import Stack, browser_missing, dashboard_stack, launch_chromium


@dataclass
class ModelServer:
    """The scripted model (tests add scripts to it) and where OpenCode reaches it."""

    scripted: ScriptedModel
    base_url: str


@pytest.fixture(scope="module")
def model() -> Iterator[ModelServer]:
    """The scripted model server the sandboxes' OpenCode uses."""
    scripted = ScriptedModel()
    with serve_model(scripted) as (host, port):
        yield ModelServer(scripted, f"http://{host}:{port}/v1")


@pytest_asyncio.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, model: ModelServer
) -> AsyncIterator[Stack]:
    """The manager + dashboard shared by a module's tests."""
    opencode = provider_config(model.base_url) | {"permission": {"bash": "ask"}}
    async with dashboard_stack(tmp_path_factory.mktemp("dash"), opencode=opencode) as running:
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
