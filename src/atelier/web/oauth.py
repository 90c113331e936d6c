"""GitHub sign-in: OAuth authorization code with PKCE (S256) and a checked `state`.

`begin()` makes a fresh `state` and code verifier and seals them, with the `next` path, into
the short-lived cookie `atelier_oauth` (signed, HttpOnly, SameSite=Lax, path `/auth/github`).
`finish()` refuses a callback whose `state` is missing or differs from the cookie's before
anything is sent to GitHub, then trades the code (with the verifier) for a token, reads the
user, checks the allowed organisations and users, and maps the login to an Atelier user
(linked by `github_login`, or created as a member when `web.github_create_users` is on). The
GitHub token is used only for those reads and then dropped.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from atelier.core.auth import AuthService, UserView
from atelier.errors import AtelierError, Forbidden, Unauthorized, Unavailable
from atelier.web.config import WebConfig
from atelier.web.keys import WebKeys, b64url

OAUTH_COOKIE = "atelier_oauth"
COOKIE_PATH = "/auth/github"
CALLBACK_PATH = "/auth/github/callback"
STATE_TTL_S = 600
SCOPES = "read:user read:org"
_USERNAME_UNSAFE = re.compile(r"[^a-z0-9_.-]")


class OAuthError(Unauthorized):
    """A GitHub sign-in that cannot complete (bad state, refused code, user not allowed)."""

    code = "oauth_failed"


@dataclass(frozen=True)
class Started:
    """Where to send the browser, and the sealed cookie to set first."""

    location: str
    cookie: str


def github_client(config: WebConfig) -> httpx.AsyncClient:
    """The one HTTP client for GitHub's OAuth and REST endpoints."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, connect=5.0),
        headers={"Accept": "application/json", "User-Agent": "atelier-dashboard"},
        follow_redirects=False,
    )


def challenge(verifier: str) -> str:
    """The PKCE S256 code challenge of a verifier."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


class GitHubLogin:
    """The GitHub OAuth flow for one manager."""

    def __init__(self, config: WebConfig, keys: WebKeys, auth: AuthService) -> None:
        self.config = config
        self._keys = keys
        self._auth = auth

    @property
    def enabled(self) -> bool:
        """Whether a client id and secret are configured."""
        return self.config.github_enabled

    def begin(self, redirect_uri: str, next_path: str) -> Started:
        """A new authorization request."""
        if not self.enabled:
            raise Unavailable(
                "GitHub sign-in is not configured on this manager",
                hint="set web.github_client_id and web.github_client_secret",
            )
        state = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        sealed = self._keys.seal(
            "oauth", {"state": state, "verifier": verifier, "next": next_path}, STATE_TTL_S
        )
        query = urlencode(
            {
                "client_id": self.config.github_client_id,
                "redirect_uri": redirect_uri,
                "scope": SCOPES,
                "state": state,
                "code_challenge": challenge(verifier),
                "code_challenge_method": "S256",
                "allow_signup": "false",
            }
        )
        return Started(f"{self.config.github_url}/login/oauth/authorize?{query}", sealed)

    async def finish(
        self, cookie: str | None, state: str | None, code: str | None, redirect_uri: str
    ) -> tuple[UserView, str]:
        """The signed-in user and the `next` path; OAuthError/Forbidden when refused."""
        pending = self._keys.open("oauth", cookie)
        if pending is None:
            raise OAuthError(
                "this sign-in attempt is unknown or older than 10 minutes",
                hint="start again from the login page",
            )
        if not state or not secrets.compare_digest(str(pending["state"]), state):
            raise OAuthError("the sign-in state does not match", hint="start again from /login")
        if not code:
            raise OAuthError("GitHub returned no authorization code", hint="start again")
        async with github_client(self.config) as client:
            token = await self._exchange(client, code, str(pending["verifier"]), redirect_uri)
            login = await self._login(client, token)
            await self._check_allowed(client, token, login)
        return await self._user_for(login), str(pending.get("next") or "/")

    async def _exchange(
        self, client: httpx.AsyncClient, code: str, verifier: str, redirect_uri: str
    ) -> str:
        secret = self.config.github_client_secret
        form = {
            "client_id": self.config.github_client_id or "",
            "client_secret": secret.get_secret_value() if secret else "",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        body = await _json(
            client, "POST", f"{self.config.github_url}/login/oauth/access_token", data=form
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            reason = body.get("error_description") if isinstance(body, dict) else None
            raise OAuthError(f"GitHub refused the authorization code: {reason or 'no token'}")
        return token

    async def _login(self, client: httpx.AsyncClient, token: str) -> str:
        user = await _json(client, "GET", f"{self.config.github_api_url}/user", token=token)
        login = user.get("login") if isinstance(user, dict) else None
        if not isinstance(login, str) or not login:
            raise OAuthError("GitHub did not say who signed in")
        return login

    async def _check_allowed(self, client: httpx.AsyncClient, token: str, login: str) -> None:
        users = {u.lower() for u in self.config.github_allowed_users}
        if login.lower() in users:
            return
        orgs = {o.lower() for o in self.config.github_allowed_orgs}
        if orgs:
            found = await _json(
                client, "GET", f"{self.config.github_api_url}/user/orgs?per_page=100", token=token
            )
            mine = {str(o.get("login", "")).lower() for o in found if isinstance(o, dict)}
            if mine & orgs:
                return
        raise Forbidden(
            f"GitHub user {login!r} may not sign in to this manager",
            hint="an admin can add the login to web.github_allowed_users or an allowed org",
        )

    async def _user_for(self, login: str) -> UserView:
        for user in await self._auth.list_users():
            if user.github_login and user.github_login.lower() == login.lower():
                return user
        if not self.config.github_create_users:
            raise Forbidden(
                f"no Atelier account is linked to GitHub user {login!r}",
                hint="an admin can turn on web.github_create_users to create accounts at first sign-in",
            )
        taken = {u.username for u in await self._auth.list_users()}
        base = _USERNAME_UNSAFE.sub("-", login.lower())
        if not base[:1].isalpha():
            base = "gh-" + base
        username, n = base[:32], 2
        while username in taken:
            username, n = f"{base[:28]}-{n}", n + 1
        return await self._auth.create_user(username, github_login=login)


async def _json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    token: str | None = None,
    data: dict[str, str] | None = None,
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = await client.request(method, url, data=data, headers=headers)
    except httpx.HTTPError as exc:
        raise Unavailable(f"GitHub is not reachable: {exc}", hint="try again") from exc
    if response.status_code >= 400:
        raise OAuthError(f"GitHub answered {response.status_code} to {method} {url.split('?')[0]}")
    try:
        return response.json()
    except ValueError as exc:
        raise AtelierError(f"GitHub sent a non-JSON answer to {url.split('?')[0]}") from exc
