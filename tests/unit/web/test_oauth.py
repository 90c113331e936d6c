"""GitHub sign-in against a small OAuth provider served on loopback by the test.

The provider implements the three GitHub endpoints the dashboard uses (authorize, token,
user + user/orgs) and checks PKCE itself: a token is issued only when the verifier hashes
to the challenge sent at authorize time.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from atelier.api.deps import SESSION_COOKIE
from atelier.web.oauth import OAUTH_COOKIE
from tests.unit.web.conftest import Web, start_web
from tests.unit.web.loopback import serving


@dataclass
class Provider:
    """A GitHub stand-in: one user signs in at a time (`login`)."""

    login: str = "octo"
    orgs: list[str] = field(default_factory=list)
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> challenge, uri
    tokens: dict[str, str] = field(default_factory=dict)
    token_calls: int = 0
    url: str = ""

    def app(self) -> Starlette:
        async def authorize(request: Request) -> Response:
            q = request.query_params
            assert q["client_id"] == "cid"
            assert q["code_challenge_method"] == "S256"
            code = secrets.token_urlsafe(8)
            self.codes[code] = (q["code_challenge"], q["redirect_uri"])
            query = urlencode({"code": code, "state": q["state"]})
            return RedirectResponse(f"{q['redirect_uri']}?{query}", status_code=302)

        async def token(request: Request) -> Response:
            self.token_calls += 1
            form = await request.form()
            challenge, uri = self.codes.pop(str(form["code"]), ("", ""))
            digest = hashlib.sha256(str(form.get("code_verifier", "")).encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if (
                form["client_secret"] != "csecret"
                or not challenge
                or expected != challenge
                or form.get("redirect_uri") != uri
            ):
                return JSONResponse({"error": "bad_verification_code", "error_description": "no"})
            raw = secrets.token_urlsafe(8)
            self.tokens[raw] = self.login
            return JSONResponse({"access_token": raw, "token_type": "bearer"})

        def who(request: Request) -> str | None:
            header = request.headers.get("authorization", "")
            return self.tokens.get(header.removeprefix("Bearer "))

        async def user(request: Request) -> Response:
            login = who(request)
            if login is None:
                return JSONResponse({"message": "Bad credentials"}, status_code=401)
            return JSONResponse({"login": login, "id": 42})

        async def orgs(request: Request) -> Response:
            if who(request) is None:
                return JSONResponse({"message": "Bad credentials"}, status_code=401)
            return JSONResponse([{"login": o} for o in self.orgs])

        return Starlette(
            routes=[
                Route("/login/oauth/authorize", authorize),
                Route("/login/oauth/access_token", token, methods=["POST"]),
                Route("/user", user),
                Route("/user/orgs", orgs),
            ]
        )


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    found = Provider()
    async with serving(found.app()) as server:
        found.url = server.url
        yield found


@pytest.fixture
async def web(tmp_path: Path, provider: Provider) -> AsyncIterator[Web]:
    settings = {
        "github_client_id": "cid",
        "github_client_secret": "csecret",
        "github_url": provider.url,
        "github_api_url": provider.url,
        "github_allowed_users": ["octo"],
        "github_allowed_orgs": ["acme"],
    }
    manager, dashboard, app = await start_web(tmp_path, web=settings)
    try:
        yield Web(manager, dashboard, app)
    finally:
        await manager.stop()


async def _authorize(client: httpx.AsyncClient, provider: Provider) -> str:
    """Start at the dashboard, let the provider approve; returns the callback path+query."""
    started = await client.get("/auth/github", params={"next": "/tasks"})
    assert started.status_code == 302
    location = started.headers["location"]
    assert location.startswith(f"{provider.url}/login/oauth/authorize?")
    assert OAUTH_COOKIE in client.cookies
    async with httpx.AsyncClient() as browser:
        approved = await browser.get(location)
    assert approved.status_code == 302
    callback = urlsplit(approved.headers["location"])
    assert callback.path == "/auth/github/callback"
    return f"{callback.path}?{callback.query}"


async def test_sign_in_creates_a_linked_member(web: Web, provider: Provider) -> None:
    async with web.client() as client:
        callback = await _authorize(client, provider)
        done = await client.get(callback)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/tasks"
        assert SESSION_COOKIE in client.cookies
        assert (await client.get("/tasks")).status_code == 200
    users = {u.username: u for u in await web.manager.auth.list_users()}
    assert users["octo"].github_login == "octo"
    assert users["octo"].role == "member"


async def test_login_page_offers_github(web: Web) -> None:
    async with web.client() as client:
        page = await client.get("/login", params={"next": "/sandboxes"})
    assert 'href="/auth/github?next=/sandboxes"' in page.text or "%2Fsandboxes" in page.text


@pytest.mark.parametrize("state", [None, "", "forged-state"])
async def test_callback_with_missing_or_wrong_state_is_refused(
    web: Web, provider: Provider, state: str | None
) -> None:
    async with web.client() as client:
        callback = await _authorize(client, provider)
        query = parse_qs(urlsplit(callback).query)
        params = {"code": query["code"][0]}
        if state is not None:
            params["state"] = state
        refused = await client.get("/auth/github/callback", params=params)
    assert refused.status_code == 401
    assert "state" in refused.text
    assert SESSION_COOKIE not in client.cookies
    assert provider.token_calls == 0  # refused before the code was ever used


async def test_callback_in_another_browser_is_refused(web: Web, provider: Provider) -> None:
    async with web.client() as victim, web.client() as attacker:
        callback = await _authorize(attacker, provider)
        refused = await victim.get(callback)  # a planted link: no matching state cookie
    assert refused.status_code == 401
    assert SESSION_COOKIE not in victim.cookies
    assert provider.token_calls == 0


async def test_users_outside_the_allow_lists_are_refused(web: Web, provider: Provider) -> None:
    provider.login = "mallory"
    async with web.client() as client:
        refused = await client.get(await _authorize(client, provider))
    assert refused.status_code == 403
    assert "may not sign in" in refused.text
    assert SESSION_COOKIE not in client.cookies
    assert "mallory" not in {u.username for u in await web.manager.auth.list_users()}


async def test_members_of_an_allowed_org_may_sign_in(web: Web, provider: Provider) -> None:
    provider.login, provider.orgs = "Orga-Member", ["ACME"]
    async with web.client() as client:
        done = await client.get(await _authorize(client, provider))
    assert done.status_code == 303
    assert "orga-member" in {u.username for u in await web.manager.auth.list_users()}


async def test_a_code_cannot_be_replayed(web: Web, provider: Provider) -> None:
    async with web.client() as client:
        callback = await _authorize(client, provider)
        assert (await client.get(callback)).status_code == 303
        client.cookies.delete(SESSION_COOKIE)
        again = await client.get(callback)
    assert again.status_code == 401  # the state cookie was cleared after use
