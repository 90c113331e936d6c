"""The proxy endpoints in-process: internal paths hide without Caddy's secret."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from atelier.api.app import create_app
from atelier.api.routes.proxy import render
from atelier.config import AtelierConfig
from atelier.core.manager import Manager
from atelier.core.proxy import Answer, SetCookie, install_proxy
from atelier.core.proxy.tokens import ProxyKeys
from tests.fakes.proxy_driver import FakeProxyDriver
from tests.fakes.sandbox_directory import FakeDirectory


def make_manager(tmp_path: Path) -> Manager:
    return Manager(
        AtelierConfig(
            paths={"data_dir": tmp_path / "d", "run_dir": tmp_path / "r", "cache_dir": tmp_path},
            proxy={"caddy": "service", "domain": "atelier.test"},
        )
    )


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    manager = make_manager(tmp_path)
    install_proxy(manager, FakeDirectory(), driver=FakeProxyDriver())
    app = create_app(manager, manage_lifecycle=False)
    try:
        await manager.db.migrate()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://manager") as http:
            yield http
    finally:
        await manager.stop()


async def test_internal_paths_without_the_secret(client: httpx.AsyncClient) -> None:
    for path in (
        "/internal/proxy/authorize",
        "/internal/proxy/handshake?code=x",
        "/internal/proxy/ask?domain=atelier.atelier.test",
    ):
        response = await client.get(
            path, headers={"X-Atelier-Host": "sandbox-abcdefgh.atelier.test"}
        )
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"


async def test_ask_with_the_secret(client: httpx.AsyncClient, tmp_path: Path) -> None:
    key = ProxyKeys.from_data_dir(tmp_path / "d").caddy_secret
    allowed = await client.get(
        "/internal/proxy/ask", params={"domain": "atelier.atelier.test", "key": key}
    )
    assert allowed.status_code == 200
    refused = await client.get(
        "/internal/proxy/ask", params={"domain": "x.atelier.test", "key": key}
    )
    assert refused.status_code == 404


async def test_handoff_without_a_session_goes_to_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/handoff", params={"host": "sandbox-abcdefgh.atelier.test"})
    assert response.status_code == 302
    assert response.headers["location"].startswith("https://atelier.atelier.test/login?next=")
    assert response.headers["cache-control"] == "no-store"


async def test_visibility_needs_a_user(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/api/sandboxes/abcdefgh/dev/web/visibility", json={"visibility": "public"}
    )
    assert response.status_code == 401


async def test_without_install_the_endpoints_are_unavailable(tmp_path: Path) -> None:
    manager = make_manager(tmp_path)
    app = create_app(manager, manage_lifecycle=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://m"
        ) as http:
            response = await http.get("/internal/proxy/authorize")
        assert response.status_code == 503
    finally:
        await manager.stop()


def test_render_sets_cookies_and_location() -> None:
    answer = Answer(
        302,
        location="/next",
        cookies=(
            SetCookie("__Host-atelier_sbx", "v", 60, True),
            SetCookie("atelier_state", "", 0, False),
        ),
    )
    response = render(answer)
    assert response.status_code == 302 and response.headers["location"] == "/next"
    cookies = response.headers.getlist("set-cookie")
    assert cookies[0].startswith("__Host-atelier_sbx=v;")
    assert "HttpOnly" in cookies[0] and "Secure" in cookies[0] and "SameSite=lax" in cookies[0]
    assert "Max-Age=0" in cookies[1] and "Secure" not in cookies[1]
