"""Every route needs a credential, and non-members cannot see other users' sandboxes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute, Mount, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from atelier.api.app import create_app
from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.db.models import Sandbox
from tests.managerkit import unit_manager

# Public by design: liveness/readiness probes, Swagger UI's static JS/CSS, and the proxy's
# endpoints, which decide access themselves (`/internal/*` answers only requests carrying
# the secret in Caddy's config; `/auth/*` is the sign-in handshake). Their refusals are
# tested in tests/unit/api/test_proxy_routes.py and tests/integration/proxy/.
# Everything else needs a credential.
PUBLIC = {
    "/health",
    "/health/live",
    "/health/ready",
}
PUBLIC_PREFIXES = ("/auth/", "/__atelier/", "/internal/", "/swagger-assets")


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[Manager]:
    async with unit_manager(tmp_path) as started:
        yield started


@pytest.fixture
def app(manager: Manager) -> FastAPI:
    return create_app(manager, manage_lifecycle=False)


def leaf_routes(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, BaseRoute]]:
    """Every route with its full path, looking inside included routers.

    FastAPI wraps included routers; their own routes carry the router's prefix, and the
    include may add another.
    """
    found: list[tuple[str, BaseRoute]] = []
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            context = getattr(route, "include_context", None)
            found += leaf_routes(original.routes, prefix + getattr(context, "prefix", ""))
        else:
            found.append((prefix + getattr(route, "path", ""), route))
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "abcdefgh", path)


def _is_public(path: str) -> bool:
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


async def test_every_http_route_refuses_anonymous_requests(app: FastAPI) -> None:
    checked = 0
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        for path, route in leaf_routes(app.routes):
            if isinstance(route, APIRoute) and not _is_public(path):
                for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
                    response = await client.request(method, _concrete(path))
                    assert response.status_code == 401, (method, path, response.text)
                    assert response.json()["error"] == "unauthorized"
                    checked += 1
            elif isinstance(route, Mount) and not _is_public(path):
                response = await client.get(path + "/")
                assert response.status_code == 401, path
                checked += 1
    assert checked >= 20


def test_every_websocket_route_refuses_anonymous_connections(app: FastAPI) -> None:
    routes = [
        p for p, r in leaf_routes(app.routes) if isinstance(r, WebSocketRoute | APIWebSocketRoute)
    ]
    assert routes, "no WebSocket routes found"
    with TestClient(app) as client:
        for path in routes:
            with (
                pytest.raises(WebSocketDisconnect) as info,
                client.websocket_connect(_concrete(path)) as ws,
            ):
                ws.receive()
            assert info.value.code == 4401, path


async def test_sse_stream_refuses_anonymous(app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.get("/api/events")
    assert response.status_code == 401


async def test_bad_and_revoked_tokens_are_refused(app: FastAPI, manager: Manager) -> None:
    await manager.auth.create_user("alice")
    view, token = await manager.auth.create_token("alice", "t")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        ok = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["username"] == "alice"
        bad = await client.get("/api/me", headers={"Authorization": "Bearer atl_nope"})
        assert bad.status_code == 401
        basic = await client.get("/api/me", headers={"Authorization": "Basic abc"})
        assert basic.status_code == 401
        owner = await manager.auth.get_user("alice")
        await manager.auth.revoke_token(Principal(owner.id, "alice", "member"), view.id)
        revoked = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert revoked.status_code == 401


async def test_non_member_gets_404_on_another_users_sandbox(app: FastAPI, manager: Manager) -> None:
    alice = await manager.auth.create_user("alice")
    await manager.auth.create_user("bob")
    _, bob_token = await manager.auth.create_token("bob", "t")
    _, alice_token = await manager.auth.create_token("alice", "t")
    async with manager.db.session() as session:
        session.add(
            Sandbox(
                id="abcdefgh", owner_id=alice.id, image="minimal", vcpus=1, memory_mb=512,
                disk_gb=4, status="running", members=[],
            )
        )  # fmt: skip
    bob = {"Authorization": f"Bearer {bob_token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        for method, path, body in [
            ("GET", "/api/sandboxes/abcdefgh", None),
            ("POST", "/api/sandboxes/abcdefgh/exec", {"argv": ["id"]}),
            ("GET", "/api/sandboxes/abcdefgh/files?path=/etc/hostname", None),
            ("PUT", "/api/sandboxes/abcdefgh/files?path=/tmp/x", None),
            ("GET", "/api/sandboxes/abcdefgh/files/list?path=/", None),
            ("POST", "/api/sandboxes/abcdefgh/stop", None),
            ("DELETE", "/api/sandboxes/abcdefgh", None),
            ("GET", "/api/sandboxes/abcdefgh/logs", None),
            ("POST", "/api/sandboxes/abcdefgh/members", {"username": "bob"}),
        ]:
            response = await client.request(method, path, json=body, headers=bob)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"] == "not_found"
        listed = await client.get("/api/sandboxes", headers=bob)
        assert listed.json() == []
        mine = await client.get(
            "/api/sandboxes", headers={"Authorization": f"Bearer {alice_token}"}
        )
        assert [s["id"] for s in mine.json()] == ["abcdefgh"]
    with TestClient(app) as sync_client:
        with (
            pytest.raises(WebSocketDisconnect) as info,
            sync_client.websocket_connect(
                "/api/sandboxes/abcdefgh/terminal", subprotocols=[f"bearer.{bob_token}"]
            ) as ws,
        ):
            ws.receive()
        assert info.value.code == 4404


async def test_validation_errors_name_the_field(app: FastAPI, manager: Manager) -> None:
    await manager.auth.create_user("carol")
    _, token = await manager.auth.create_token("carol", "t")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.post(
            "/api/sandboxes", json={"vcpus": 0}, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error" and body["field"] == "vcpus"
