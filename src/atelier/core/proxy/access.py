"""Who may reach a sandbox host: the forward-auth decision, the handshake, the TLS `ask`.

Rules: the platform services (`sandbox-`, `opencode-`, `browser-`) and `members` dev ports
admit the owner and members; `private` dev ports the owner only; `public` dev ports anyone.
Credentials: `Authorization: Bearer <api token>` or the sandbox-host cookie (never the
dashboard session itself). Anyone else gets the same 404 as an unknown host, so existence
does not leak; anonymous browsers are sent through the handshake, other clients get 401.
Internal endpoints answer 404 unless the request carries Caddy's shared secret.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from atelier.core.auth import TOKEN_PREFIX, AuthService
from atelier.core.proxy.directory import SandboxDirectory, SandboxRef, Visibility
from atelier.core.proxy.tokens import (
    HOST_COOKIE,
    STATE_COOKIE,
    STATE_TTL_S,
    HandoffCodes,
    HostCookies,
    cookie_name,
    new_state,
    safe_next,
    valid_state,
)
from atelier.errors import Unauthorized
from atelier.runtime.proxy.base import (
    HANDSHAKE_PUBLIC_PATH,
    HEADER_HOST,
    HEADER_METHOD,
    HEADER_SECRET,
    HEADER_URI,
)
from atelier.runtime.proxy.config import ProxySettings
from atelier.runtime.proxy.hosts import ServiceHost, normalise, parse_host

HANDOFF_PATH = "/auth/handoff"
NOT_FOUND_BODY = {"error": "not_found", "message": "nothing is published at this address"}


@dataclass(frozen=True)
class SetCookie:
    """A cookie to set (or, with max_age 0, to delete): always HttpOnly, SameSite=Lax, Path=/."""

    name: str
    value: str
    max_age: int
    secure: bool


@dataclass(frozen=True)
class Answer:
    """An HTTP answer for the API layer to render."""

    status: int
    body: dict[str, Any] | None = None
    location: str | None = None
    cookies: tuple[SetCookie, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ForwardedRequest:
    """What Caddy tells forward-auth about the original request."""

    secret: str | None
    host: str | None
    uri: str | None
    method: str | None
    authorization: str | None
    cookies: Mapping[str, str]
    accept: str | None = None
    fetch_mode: str | None = None
    origin: str | None = None
    preflight: bool = False  # an OPTIONS request with Access-Control-Request-Method

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str], cookies: Mapping[str, str]
    ) -> ForwardedRequest:
        """Read the forward-auth request Caddy sends (header names are case-insensitive)."""
        return cls(
            secret=headers.get(HEADER_SECRET),
            host=headers.get(HEADER_HOST),
            uri=headers.get(HEADER_URI),
            method=headers.get(HEADER_METHOD),
            authorization=headers.get("authorization"),
            cookies=cookies,
            accept=headers.get("accept"),
            fetch_mode=headers.get("sec-fetch-mode"),
            origin=headers.get("origin"),
            preflight=(headers.get(HEADER_METHOD) or "").upper() == "OPTIONS"
            and headers.get("access-control-request-method") is not None,
        )


OK = Answer(200)
NOT_FOUND = Answer(404, NOT_FOUND_BODY)


def allows(sandbox: SandboxRef, user_id: str, visibility: Visibility) -> bool:
    """The visibility rule for a signed-in user (public is decided before identity)."""
    if visibility == "private":
        return user_id == sandbox.owner_id
    return sandbox.is_member(user_id)


class AccessGate:
    """Access decisions for sandbox hosts, backed by the auth service and the directory."""

    def __init__(
        self,
        settings: ProxySettings,
        auth: AuthService,
        directory: SandboxDirectory,
        *,
        caddy_secret: str,
        cookies: HostCookies,
        codes: HandoffCodes | None = None,
    ) -> None:
        self.settings = settings
        self._auth = auth
        self._directory = directory
        self._secret = caddy_secret
        self._cookies = cookies
        self._codes = codes or HandoffCodes()
        self._secure = settings.scheme == "https"
        self.host_cookie = cookie_name(HOST_COOKIE, self._secure)
        self.state_cookie = cookie_name(STATE_COOKIE, self._secure)

    def trusted(self, secret: str | None) -> bool:
        """Whether a request carries Caddy's shared secret."""
        return secret is not None and hmac.compare_digest(secret.encode(), self._secret.encode())

    async def _target(self, host: str) -> tuple[ServiceHost, SandboxRef, Visibility] | None:
        target = parse_host(self.settings.domain, host)
        if target is None:
            return None
        sandbox = await self._directory.sandbox_ref(target.sandbox_id)
        if sandbox is None or not sandbox.running:
            return None
        if target.kind != "dev":
            return target, sandbox, "members"
        assert target.dev_name is not None
        port = await self._directory.dev_port(sandbox.id, target.dev_name)
        return None if port is None else (target, sandbox, port.visibility)

    async def authorize(self, request: ForwardedRequest) -> Answer:
        """The forward-auth answer: 200 lets the request through to the guest."""
        if not self.trusted(request.secret) or not request.host:
            return NOT_FOUND
        host = normalise(request.host)
        found = await self._target(host)
        if found is None:
            return NOT_FOUND
        _, sandbox, visibility = found
        if visibility == "public" or self._sibling_preflight(request, sandbox.id):
            return OK
        try:
            user_id = await self._identify(request, host)
        except Unauthorized as exc:
            return Answer(401, exc.to_dict(), headers={"WWW-Authenticate": "Bearer"})
        if user_id is None:
            return self._challenge(request, host)
        return OK if allows(sandbox, user_id, visibility) else NOT_FOUND

    def _sibling_preflight(self, request: ForwardedRequest, sandbox_id: str) -> bool:
        # Browsers send CORS preflights without cookies. One from another host of the same
        # sandbox (a dev frontend calling its dev API) goes to the guest app, which answers
        # it; the real request that follows still needs a credential.
        if not request.preflight or not request.origin:
            return False
        origin = parse_host(self.settings.domain, urlsplit(request.origin).netloc)
        return origin is not None and origin.sandbox_id == sandbox_id

    async def _identify(self, request: ForwardedRequest, host: str) -> str | None:
        scheme, _, token = (request.authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token.startswith(TOKEN_PREFIX):
            return (await self._auth.authenticate(token, kind="api")).user_id
        cookie = request.cookies.get(self.host_cookie)
        return self._cookies.verify(cookie, host) if cookie else None

    def _challenge(self, request: ForwardedRequest, host: str) -> Answer:
        method = (request.method or "GET").upper()
        browser = request.fetch_mode == "navigate" or (
            method in ("GET", "HEAD") and "text/html" in (request.accept or "")
        )
        if not browser:
            body = Unauthorized(
                "sign-in required for this sandbox address",
                hint="open it in a browser signed in to the dashboard, or send"
                " 'Authorization: Bearer <token>'",
            ).to_dict()
            return Answer(401, body, headers={"WWW-Authenticate": "Bearer"})
        state = request.cookies.get(self.state_cookie)
        if not valid_state(state):
            state = new_state()
        assert state is not None
        query = urlencode({"host": host, "next": safe_next(request.uri), "state": state})
        location = self.settings.url(self.settings.dashboard_host, f"{HANDOFF_PATH}?{query}")
        cookie = SetCookie(self.state_cookie, state, STATE_TTL_S, self._secure)
        return Answer(302, location=location, cookies=(cookie,))

    async def handoff(
        self, session: str | None, host: str, next_path: str | None, state: str | None, here: str
    ) -> Answer:
        """On the dashboard host: trade the dashboard session for a code for `host`."""
        principal = None
        if session:
            try:
                principal = await self._auth.authenticate(session, kind="session")
            except Unauthorized:
                principal = None
        if principal is None:
            query = urlencode({"next": here})
            location = self.settings.url(
                self.settings.dashboard_host, f"{self.settings.login_path}?{query}"
            )
            return Answer(302, location=location)
        host = normalise(host)
        found = await self._target(host)
        if found is None or not valid_state(state):
            return NOT_FOUND
        _, sandbox, visibility = found
        if not allows(
            sandbox, principal.user_id, "members" if visibility == "public" else visibility
        ):
            return NOT_FOUND
        assert state is not None
        code = self._codes.issue(principal.user_id, host, state)
        query = urlencode({"code": code, "next": safe_next(next_path)})
        return Answer(302, location=self.settings.url(host, f"{HANDSHAKE_PUBLIC_PATH}?{query}"))

    async def complete(
        self,
        secret: str | None,
        host: str | None,
        code: str | None,
        next_path: str | None,
        cookies: Mapping[str, str],
    ) -> Answer:
        """On the sandbox host (via Caddy): trade the code for the host-only cookie."""
        if not self.trusted(secret) or not host:
            return NOT_FOUND
        host = normalise(host)
        user_id = self._codes.consume(code or "", host, cookies.get(self.state_cookie))
        if user_id is None:
            body = Unauthorized(
                "this sign-in link is invalid or has expired",
                hint="open the sandbox address again to start a new sign-in",
            ).to_dict()
            return Answer(401, body)
        value = self._cookies.issue(user_id, host)
        host_cookie = SetCookie(self.host_cookie, value, self._cookies.ttl_s, self._secure)
        clear_state = SetCookie(self.state_cookie, "", 0, self._secure)
        return Answer(302, location=safe_next(next_path), cookies=(host_cookie, clear_state))

    async def ask(self, key: str | None, domain: str | None) -> bool:
        """On-demand TLS: may Caddy obtain a certificate for `domain`?"""
        if not self.trusted(key) or not domain:
            return False
        name = normalise(domain)
        if name == self.settings.dashboard_host:
            return True
        target = parse_host(self.settings.domain, name)
        if target is None or await self._directory.sandbox_ref(target.sandbox_id) is None:
            return False
        if target.kind == "dev":
            assert target.dev_name is not None
            return await self._directory.dev_port(target.sandbox_id, target.dev_name) is not None
        return True
