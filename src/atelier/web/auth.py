"""Dashboard sign-in: session cookies, CSRF tokens, `next` checks and login throttling.

A session is an `api_tokens` row of kind "session" whose secret sits in the host-only
`atelier_session` cookie (no Domain attribute, so sandbox hosts never receive it; they get
their own cookies through the proxy's handshake), `HttpOnly`, `SameSite=Lax`, and `Secure`
whenever the dashboard is reached over HTTPS. Logging out revokes the row.

CSRF: every unsafe request must carry a token, as the form field `csrf` or the header
`X-CSRF-Token`. Signed-in, it is an HMAC of the session's token id (a synchronizer token
bound to the session, never stored); before sign-in (the login form) it is the value of a
random `atelier_login_csrf` cookie (double submit).
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from datetime import timedelta
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from atelier.api.deps import SESSION_COOKIE
from atelier.core.auth import AuthService, Principal
from atelier.errors import LimitExceeded, Unauthorized
from atelier.web.keys import WebKeys

LOGIN_CSRF_COOKIE = "atelier_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """Raised by page dependencies when nobody is signed in; becomes a redirect to /login."""


class CsrfRejected(Exception):
    """An unsafe request without a valid CSRF token."""


def is_secure(connection: HTTPConnection, public_url: str | None) -> bool:
    """Whether cookies must be `Secure`: the request came over HTTPS (directly or via Caddy)."""
    if connection.url.scheme in ("https", "wss"):
        return True
    forwarded = connection.headers.get("x-forwarded-proto", "")
    return forwarded == "https" or bool(public_url and public_url.startswith("https://"))


def safe_next(value: str | None) -> str:
    """A same-host path to continue to after sign-in; anything else becomes `/`."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return "/"
    return value


class Sessions:
    """Creates, resolves and ends dashboard sessions; computes and checks CSRF tokens."""

    def __init__(
        self, auth: AuthService, keys: WebKeys, *, hours: float, public_url: str | None
    ) -> None:
        self._auth = auth
        self._keys = keys
        self._lifetime = timedelta(hours=hours)
        self._public_url = public_url

    async def viewer(self, connection: HTTPConnection) -> Principal | None:
        """The signed-in user of this request, or None."""
        cached = getattr(connection.state, "viewer", None)
        if isinstance(cached, Principal):
            return cached
        raw = connection.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            principal = await self._auth.authenticate(raw, kind="session")
        except Unauthorized:
            return None
        connection.state.viewer = principal
        return principal

    async def start(self, request: Request, response: Response, user_id: str) -> None:
        """Create a session for `user_id` and set its cookie on `response`."""
        agent = (request.headers.get("user-agent") or "browser")[:40]
        _, raw = await self._auth.create_token(
            user_id, f"dashboard: {agent}"[:64], kind="session", expires_in=self._lifetime
        )
        response.set_cookie(
            SESSION_COOKIE,
            raw,
            max_age=int(self._lifetime.total_seconds()),
            path="/",
            secure=is_secure(request, self._public_url),
            httponly=True,
            samesite="lax",
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")

    async def end(self, request: Request, response: Response) -> None:
        """Revoke the request's session (if any) and clear its cookie."""
        viewer = await self.viewer(request)
        if viewer is not None and viewer.token_id is not None:
            await self._auth.revoke_token(viewer, viewer.token_id)
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=is_secure(request, self._public_url), httponly=True
        )

    # -- CSRF -----------------------------------------------------------------------------

    def csrf_for(self, viewer: Principal | None, request: Request) -> str:
        """The token forms on this page must carry."""
        if viewer is not None and viewer.token_id is not None:
            return self._keys.mac("csrf", viewer.token_id)
        return request.cookies.get(LOGIN_CSRF_COOKIE) or ""

    def login_token(self, request: Request) -> str:
        """The pre-sign-in CSRF value: the browser's cookie, or a new one to set."""
        value = request.cookies.get(LOGIN_CSRF_COOKIE)
        return value if value and len(value) >= 20 else secrets.token_urlsafe(24)

    def set_login_token(self, request: Request, response: Response, token: str) -> None:
        """Set the double-submit cookie unless the browser already holds `token`."""
        if request.cookies.get(LOGIN_CSRF_COOKIE) == token:
            return
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            max_age=3600,
            path="/",
            secure=is_secure(request, self._public_url),
            httponly=True,
            samesite="lax",
        )

    async def check_csrf(self, request: Request) -> None:
        """Raise CsrfRejected unless an unsafe request carries the right token."""
        if request.method in SAFE_METHODS:
            return
        sent = request.headers.get(CSRF_HEADER)
        if not sent:
            content_type = request.headers.get("content-type", "")
            if content_type.startswith(("application/x-www-form-urlencoded", "multipart/")):
                form = await request.form()
                value = form.get(CSRF_FIELD)
                sent = value if isinstance(value, str) else None
        viewer = await self.viewer(request)
        if viewer is not None and viewer.token_id is not None:
            ok = self._keys.check("csrf", viewer.token_id, sent)
        else:
            expected = request.cookies.get(LOGIN_CSRF_COOKIE)
            ok = bool(expected and sent) and secrets.compare_digest(expected or "", sent or "")
        if not ok:
            raise CsrfRejected()


class LoginThrottle:
    """At most `limit` failed sign-ins per username (and per client address) per window."""

    def __init__(self, limit: int = 10, window_s: float = 900.0) -> None:
        self._limit = limit
        self._window = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = time.monotonic()
        found = self._failures.setdefault(key, deque())
        while found and now - found[0] > self._window:
            found.popleft()
        return found

    def check(self, *keys: str) -> None:
        """LimitExceeded when any key has too many recent failures."""
        for key in keys:
            if len(self._recent(key)) >= self._limit:
                minutes = int(self._window // 60)
                raise LimitExceeded(
                    f"too many failed sign-ins; wait {minutes} minutes",
                    hint="ask an admin to reset your password with `atelier user passwd`",
                )

    def failed(self, *keys: str) -> None:
        """Record a failure for every key."""
        for key in keys:
            self._recent(key).append(time.monotonic())
        if len(self._failures) > 10_000:  # bound memory under a spray of usernames
            self._failures = {k: v for k, v in self._failures.items() if v}

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of these keys."""
        for key in keys:
            self._failures.pop(key, None)
