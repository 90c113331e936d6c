"""Request-scoped dependencies: the manager and the caller's identity.

Credentials, in order: `Authorization: Bearer <token>`, then the dashboard session cookie.
WebSocket clients that cannot set headers may send the token as the `Sec-WebSocket-Protocol`
value `bearer.<token>`; a WebSocket authenticated by the cookie alone must carry an `Origin`
of the dashboard itself. Every /api route depends on `principal`; nothing reads identity
from shared state.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, WebSocket
from starlette.requests import HTTPConnection

from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.errors import Forbidden, Unauthorized

SESSION_COOKIE = "atelier_session"
WS_PROTOCOL_PREFIX = "bearer."


def get_manager(connection: HTTPConnection) -> Manager:
    """The manager serving this app."""
    manager = connection.app.state.manager
    assert isinstance(manager, Manager)
    return manager


def _bearer(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Authorization header must be 'Bearer <token>'")
        return value.strip()
    if isinstance(connection, WebSocket):
        for proto in connection.headers.get("sec-websocket-protocol", "").split(","):
            proto = proto.strip()
            if proto.startswith(WS_PROTOCOL_PREFIX):
                return proto[len(WS_PROTOCOL_PREFIX) :]
    return None


async def resolve_principal(connection: HTTPConnection) -> Principal:
    """The caller, from a bearer token or the session cookie; Unauthorized otherwise."""
    manager = get_manager(connection)
    token = _bearer(connection)
    if token is not None:
        principal = await manager.auth.authenticate(token, kind="api")
    else:
        cookie = connection.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Unauthorized(
                "authentication required",
                hint="send 'Authorization: Bearer <token>' (create one with `atelier token create`)",
            )
        if isinstance(connection, WebSocket):
            _check_origin(connection, manager.config.server.public_url)
        principal = await manager.auth.authenticate(cookie, kind="session")
    connection.state.principal = principal
    return principal


def _check_origin(websocket: WebSocket, public_url: str | None) -> None:
    """Refuse cross-site WebSocket hijacking: a cookie-authenticated WebSocket must be opened
    by a page of the dashboard itself (browsers always send `Origin` on WebSockets, and
    sandbox hosts are same-site but a different origin)."""
    origin = websocket.headers.get("origin")
    if not origin:
        raise Forbidden("a WebSocket authenticated by the session cookie must send Origin")
    netloc = urlsplit(origin).netloc.lower()
    allowed = {websocket.headers.get("host", "").lower()}
    if public_url:
        allowed.add(urlsplit(public_url).netloc.lower())
    if netloc not in allowed:
        raise Forbidden(
            f"WebSocket origin {origin!r} is not the dashboard",
            hint="open the terminal from the dashboard, or authenticate with a bearer token",
        )


async def principal(request: Request) -> Principal:
    """Dependency for HTTP routes."""
    return await resolve_principal(request)


async def admin(user: Annotated[Principal, Depends(principal)]) -> Principal:
    """Dependency for admin-only routes."""
    if not user.is_admin:
        raise Forbidden("this needs an admin account")
    return user


CurrentUser = Annotated[Principal, Depends(principal)]
AdminUser = Annotated[Principal, Depends(admin)]
ManagerDep = Annotated[Manager, Depends(get_manager)]
