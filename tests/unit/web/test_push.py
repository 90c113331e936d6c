"""Web Push end to end: a browser subscription is stored, an attention event becomes an
encrypted push to an endpoint this test serves on loopback, and the payload decrypts with
the subscription's keys (RFC 8291)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from atelier.core.auth import Principal
from atelier.web.keys import b64url
from tests.unit.web.conftest import Web, sign_in, start_web
from tests.unit.web.loopback import serving
from tests.unit.web.test_webpush import verify_jwt


@dataclass
class PushService:
    """A push service stand-in: records deliveries, answers `status`."""

    status: int = 201
    received: asyncio.Queue[tuple[str, dict[str, str], bytes]] = field(
        default_factory=asyncio.Queue
    )
    url: str = ""

    def app(self) -> Starlette:
        async def push(request: Request) -> Response:
            body = await request.body()
            await self.received.put((request.url.path, dict(request.headers), body))
            return Response(status_code=self.status)

        return Starlette(routes=[Route("/push/{id}", push, methods=["POST"])])


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    service = PushService()
    async with serving(service.app()) as server:
        service.url = server.url
        yield service


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Web]:
    manager, dashboard, app = await start_web(tmp_path, web={"push_hosts": ["127.0.0.1"]})
    try:
        yield Web(manager, dashboard, app)
    finally:
        await manager.stop()


@dataclass
class Browser:
    """A browser's push keys."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = b"sixteen byte key"

    def subscription(self, endpoint: str) -> dict[str, object]:
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": endpoint, "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}

    def decrypt(self, body: bytes) -> dict[str, object]:
        plain = http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        data: dict[str, object] = json.loads(plain)
        return data


async def _subscribe(web: Web, browser: Browser, endpoint: str, user: str = "alice") -> int:
    async with web.client() as client:
        csrf = await sign_in(client, user)
        answer = await client.post(
            "/ui/push/subscriptions",
            json=browser.subscription(endpoint),
            headers={"X-CSRF-Token": csrf},
        )
        return answer.status_code


async def test_attention_is_pushed_encrypted(web: Web, push_service: PushService) -> None:
    browser = Browser()
    endpoint = f"{push_service.url}/push/alice-phone"
    assert await _subscribe(web, browser, endpoint) == 201
    alice = await web.manager.auth.get_user("alice")
    async with web.client() as client:
        await sign_in(client)
        settings = await client.get("/settings")
    assert "via 127.0.0.1" in settings.text  # the stored subscription is listed

    web.manager.bus.publish(
        "attention.created",
        {
            "id": "a1",
            "kind": "permission",
            "sandbox_id": "sbx1",
            "title": "bash",
            "detail": "rm -rf build",
        },
        audience={alice.id},
    )
    path, headers, body = await asyncio.wait_for(push_service.received.get(), 20)
    assert path == "/push/alice-phone"
    assert headers["content-encoding"] == "aes128gcm"
    assert int(headers["ttl"]) > 0
    message = browser.decrypt(body)
    assert message["title"] == "Permission needed: bash"
    assert "rm -rf build" in str(message["body"])
    assert message["url"] == "/#attention"
    token, key = headers["authorization"].removeprefix("vapid t=").split(", k=")
    assert key == web.dashboard.push.vapid.public_key
    assert verify_jwt(token, key)["aud"] == push_service.url


async def test_only_the_audience_is_notified(web: Web, push_service: PushService) -> None:
    alice, bob = Browser(), Browser()
    await _subscribe(web, alice, f"{push_service.url}/push/alice")
    await _subscribe(web, bob, f"{push_service.url}/push/bob", "bob")
    bob_user = await web.manager.auth.get_user("bob")
    web.manager.bus.publish("sandbox.status", {"id": "x", "status": "running"}, {bob_user.id})
    web.manager.bus.publish(
        "attention.created",
        {
            "id": "a2",
            "kind": "question",
            "sandbox_id": "sbx2",
            "title": "Which port?",
            "task_id": "t9",
        },
        audience={bob_user.id},
    )
    path, _headers, body = await asyncio.wait_for(push_service.received.get(), 20)
    assert path == "/push/bob"
    message = bob.decrypt(body)
    assert message["title"] == "Question: Which port?"
    assert message["url"] == "/tasks/t9"
    await asyncio.sleep(0.3)
    assert push_service.received.empty()


async def test_gone_subscriptions_are_removed(web: Web, push_service: PushService) -> None:
    await _subscribe(web, Browser(), f"{push_service.url}/push/old")
    push_service.status = 410
    sent = await web.dashboard.push.notify(
        None, {"title": "t", "body": "b", "url": "/", "tag": "x"}
    )
    assert sent == 0
    alice = await web.manager.auth.get_user("alice")
    assert await web.dashboard.push.subscriptions(Principal(alice.id, "alice", "admin")) == []


async def test_endpoints_outside_push_services_are_refused(web: Web) -> None:
    status = await _subscribe(web, Browser(), "https://evil.example/collect")
    assert status == 400
    status = await _subscribe(web, Browser(), "http://127.0.0.1:1/push/x")
    assert status == 201  # loopback is listed in this test's web.push_hosts


async def test_subscribing_needs_the_csrf_header(web: Web) -> None:
    async with web.client() as client:
        await sign_in(client)
        answer = await client.post(
            "/ui/push/subscriptions", json=Browser().subscription("http://127.0.0.1:1/push/y")
        )
    assert answer.status_code == 403
