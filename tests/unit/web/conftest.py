"""A manager over fakes with the dashboard mounted, and a signed-in HTTP client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from atelier.api.app import create_app
from atelier.config import AtelierConfig
from atelier.core.manager import Manager
from atelier.runtime.vmm.config import VmmConfig
from atelier.web.dashboard import Dashboard, install_dashboard
from tests.managerkit import fake_runtime, paths

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


@dataclass
class Web:
    """The dashboard under test."""

    manager: Manager
    dashboard: Dashboard
    app: FastAPI

    def client(self, base_url: str = "http://dash.test") -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=base_url)


async def start_web(tmp: Path, **settings: Any) -> tuple[Manager, Dashboard, FastAPI]:
    # The fake VMM starts no agent: fail its spawns fast instead of waiting out a real boot.
    settings.setdefault("vmm", VmmConfig(boot_timeout_s=2))
    config = AtelierConfig(paths=paths(tmp), **settings)
    manager = Manager(config, runtime=fake_runtime(config))
    dashboard = install_dashboard(manager)
    app = create_app(manager, manage_lifecycle=False)
    await manager.start()
    await manager.auth.create_user("alice", role="admin", password=PASSWORD)
    await manager.auth.create_user("bob", password=PASSWORD)
    return manager, dashboard, app


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Web]:
    manager, dashboard, app = await start_web(tmp_path)
    try:
        yield Web(manager, dashboard, app)
    finally:
        await manager.stop()


async def sign_in(client: httpx.AsyncClient, username: str = "alice") -> str:
    """Sign in through the login form; returns the session's CSRF token."""
    form = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = await client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf": token.group(1)}
    )
    assert answer.status_code == 303, answer.text
    return await csrf_of(client)


async def csrf_of(client: httpx.AsyncClient, path: str = "/settings") -> str:
    page = await client.get(path)
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)
