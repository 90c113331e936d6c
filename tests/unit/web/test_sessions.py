"""Sign-in, session cookies, CSRF, logout, `next` handling and login throttling."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi.routing import APIRoute

from atelier.api.deps import SESSION_COOKIE
from atelier.web.views import ROUTERS
from tests.unit.web.conftest import PASSWORD, Web, csrf_of, sign_in

PUBLIC = {"/login", "/auth/github", "/auth/github/callback", "/sw.js", "/manifest.webmanifest"}


def _routes() -> list[tuple[str, str]]:
    found = []
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.append((method, route.path))
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "start" if m.group(0) == "{action}" else "abcdefgh", path)


async def test_every_page_redirects_to_login_without_a_session(web: Web) -> None:
    checked = 0
    async with web.client() as client:
        for method, path in _routes():
            if method != "GET" or path in PUBLIC:
                continue
            answer = await client.get(_concrete(path))
            assert answer.status_code == 303, (path, answer.status_code)
            assert answer.headers["location"].startswith("/login?next=%2F"), path
            checked += 1
    assert checked >= 25


async def test_htmx_requests_without_a_session_get_hx_redirect(web: Web) -> None:
    async with web.client() as client:
        answer = await client.get(
            "/ui/frag/running",
            headers={
                "HX-Request": "true",
                "HX-Current-URL": "http://dash.test/sandboxes?status=running",
            },
        )
    assert answer.status_code == 401
    assert answer.headers["hx-redirect"] == "/login?next=%2Fsandboxes%3Fstatus%3Drunning"


async def test_every_form_post_without_the_csrf_token_is_refused(web: Web) -> None:
    async with web.client() as client:
        await sign_in(client)
        for method, path in _routes():
            if method == "GET":
                continue
            answer = await client.request(method, _concrete(path), data={"name": "x"})
            assert answer.status_code == 403, (method, path, answer.status_code)
            assert "did not come from this dashboard" in answer.text
            wrong = await client.request(
                method, _concrete(path), data={"csrf": "forged"}, headers={"X-CSRF-Token": "forged"}
            )
            assert wrong.status_code == 403, (method, path)


async def test_a_token_from_another_session_does_not_work(web: Web) -> None:
    async with web.client() as alice, web.client() as bob:
        alice_csrf = await sign_in(alice)
        await sign_in(bob, "bob")
        answer = await bob.post("/settings/tokens", data={"name": "t", "csrf": alice_csrf})
        assert answer.status_code == 403
        answer = await alice.post("/settings/tokens", data={"name": "t", "csrf": alice_csrf})
        assert answer.status_code == 200


async def test_session_cookie_attributes(web: Web) -> None:
    async with web.client("https://dash.test") as client:
        await sign_in(client)
        login = await client.get("/login")  # signed in: straight back to the dashboard
        assert login.status_code == 303
    async with web.client("https://dash.test") as client:
        form = await client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        answer = await client.post(
            "/login", data={"username": "alice", "password": PASSWORD, "csrf": token.group(1)}
        )
    header = next(v for v in answer.headers.get_list("set-cookie") if v.startswith(SESSION_COOKIE))
    cookie = SimpleCookie()
    cookie.load(header)
    morsel = cookie[SESSION_COOKIE]
    assert morsel["httponly"] is True
    assert morsel["secure"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert morsel["domain"] == ""  # host-only: sandbox hosts never receive it


async def test_plain_http_cookie_is_not_secure(web: Web) -> None:
    async with web.client() as client:
        form = await client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        answer = await client.post(
            "/login", data={"username": "alice", "password": PASSWORD, "csrf": token.group(1)}
        )
    header = next(v for v in answer.headers.get_list("set-cookie") if v.startswith(SESSION_COOKIE))
    assert "secure" not in header.lower()


async def test_wrong_password_is_refused_and_the_form_kept(web: Web) -> None:
    async with web.client() as client:
        form = await client.get("/login?next=/sandboxes")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        answer = await client.post(
            "/login",
            data={
                "username": "alice",
                "password": "nope",
                "csrf": token.group(1),
                "next": "/sandboxes",
            },
        )
        assert answer.status_code == 401
        assert "wrong username or password" in answer.text
        assert 'value="/sandboxes"' in answer.text
        assert SESSION_COOKIE not in client.cookies


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/sandboxes?status=running", "/sandboxes?status=running"),
        (
            "/auth/handoff?host=sandbox-x.localhost&next=/&state=s",
            "/auth/handoff?host=sandbox-x.localhost&next=/&state=s",
        ),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ],
)
async def test_login_continues_only_to_same_host_paths(
    web: Web, target: str, expected: str
) -> None:
    async with web.client() as client:
        form = await client.get("/login", params={"next": target})
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        answer = await client.post(
            "/login",
            data={
                "username": "alice",
                "password": PASSWORD,
                "csrf": token.group(1),
                "next": target,
            },
        )
    assert answer.status_code == 303
    assert answer.headers["location"] == expected


async def test_logout_revokes_the_session(web: Web) -> None:
    async with web.client() as client:
        csrf = await sign_in(client)
        raw = client.cookies[SESSION_COOKIE]
        answer = await client.post("/logout", data={"csrf": csrf})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login"
    async with web.client() as stale:
        stale.cookies.set(SESSION_COOKIE, raw)
        assert (await stale.get("/")).status_code == 303
        assert (await stale.get("/api/me")).status_code == 401


async def test_api_tokens_from_settings(web: Web) -> None:
    async with web.client() as client:
        csrf = await sign_in(client)
        created = await client.post(
            "/settings/tokens", data={"name": "laptop", "days": "30", "csrf": csrf}
        )
        assert created.status_code == 200
        raw = re.search(r"data-token>(atl_[^<]+)<", created.text)
        assert raw is not None
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=web.app), base_url="http://x")
        async with api:
            me = await api.get("/api/me", headers={"Authorization": f"Bearer {raw.group(1)}"})
            assert me.status_code == 200
            tokens = (
                await api.get("/api/tokens", headers={"Authorization": f"Bearer {raw.group(1)}"})
            ).json()
            token_id = next(t["id"] for t in tokens if t["name"] == "laptop")
            settings = await client.get("/settings")
            assert raw.group(1) not in settings.text  # shown once only
            revoked = await client.post(f"/settings/tokens/{token_id}/revoke", data={"csrf": csrf})
            assert revoked.status_code == 303
            me = await api.get("/api/me", headers={"Authorization": f"Bearer {raw.group(1)}"})
            assert me.status_code == 401


async def test_repeated_failures_are_throttled(web: Web) -> None:
    async with web.client() as client:
        form = await client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        data = {"username": "bob", "password": "wrong-password", "csrf": token.group(1)}
        codes = [(await client.post("/login", data=data)).status_code for _ in range(11)]
        assert codes[:10] == [401] * 10
        assert codes[10] == 429
        data["password"] = PASSWORD
        assert (await client.post("/login", data=data)).status_code == 429


async def test_session_cookie_is_refused_on_cross_origin_websockets(web: Web) -> None:
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    async with web.client() as client:
        await sign_in(client)
        raw = client.cookies[SESSION_COOKIE]
        csrf = await csrf_of(client)
        assert csrf
    # The test client always sends `Host: testserver` on WebSockets.
    with TestClient(web.app) as test:
        test.cookies.set(SESSION_COOKIE, raw)
        cases = [
            ("http://evil.test", 4403),
            ("http://sandbox-abc.testserver", 4403),
            (None, 4403),
            ("http://testserver", 4404),
        ]
        for origin, code in cases:
            headers = {"origin": origin} if origin else {}
            with (
                pytest.raises(WebSocketDisconnect) as closed,
                test.websocket_connect("/api/sandboxes/nope1234/terminal", headers=headers) as ws,
            ):
                ws.receive_text()
            assert closed.value.code == code, origin
