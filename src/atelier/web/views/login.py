"""Sign in and out: local accounts, GitHub OAuth, logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from atelier.errors import AtelierError, Forbidden
from atelier.web.auth import is_secure, safe_next
from atelier.web.oauth import CALLBACK_PATH, COOKIE_PATH, OAUTH_COOKIE, STATE_TTL_S
from atelier.web.routing import DashboardDep, ViewerDep
from atelier.web.views._page import page, router

routes = router()


def _login_page(
    request: Request,
    dashboard: DashboardDep,
    next_path: str,
    error: str | None,
    status: int = 200,
    username: str = "",
) -> Response:
    token = dashboard.sessions.login_token(request)
    response = page(
        request,
        None,
        "login.html",
        status=status,
        csrf=token,
        next=next_path,
        error=error,
        username=username,
    )
    dashboard.sessions.set_login_token(request, response, token)
    return response


@routes.get("/login")
async def login_form(
    request: Request, dashboard: DashboardDep, next: str = "/", error: str | None = None
) -> Response:
    """The sign-in page (the proxy's handshake sends browsers here with `next`)."""
    if await dashboard.sessions.viewer(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, dashboard, safe_next(next), error)


@routes.post("/login")
async def login(
    request: Request,
    dashboard: DashboardDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    """Check a local account's password and start a session."""
    if not dashboard.config.password_login:
        raise Forbidden("password sign-in is turned off on this manager (web.password_login)")
    client = request.client.host if request.client else "?"
    keys = (f"user:{username.lower()}", f"ip:{client}")
    try:
        dashboard.throttle.check(*keys)
        principal = await dashboard.manager.auth.verify_password(username.strip().lower(), password)
    except AtelierError as exc:
        if exc.status == 401:
            dashboard.throttle.failed(*keys)
        return _login_page(
            request, dashboard, safe_next(next), exc.message, exc.status, username[:64]
        )
    dashboard.throttle.succeeded(keys[0])
    response = RedirectResponse(safe_next(next), status_code=303)
    await dashboard.sessions.start(request, response, principal.user_id)
    return response


@routes.post("/logout")
async def logout(request: Request, dashboard: DashboardDep, _viewer: ViewerDep) -> Response:
    """End the session."""
    response = RedirectResponse("/login", status_code=303)
    await dashboard.sessions.end(request, response)
    return response


def _callback_url(request: Request, dashboard: DashboardDep) -> str:
    base = dashboard.manager.config.server.public_url or str(request.base_url)
    return base.rstrip("/") + CALLBACK_PATH


@routes.get(COOKIE_PATH)
async def github_start(request: Request, dashboard: DashboardDep, next: str = "/") -> Response:
    """Send the browser to GitHub with a fresh state and PKCE challenge."""
    started = dashboard.github.begin(_callback_url(request, dashboard), safe_next(next))
    response = RedirectResponse(started.location, status_code=302)
    response.set_cookie(
        OAUTH_COOKIE,
        started.cookie,
        max_age=STATE_TTL_S,
        path=COOKIE_PATH,
        secure=is_secure(request, dashboard.manager.config.server.public_url),
        httponly=True,
        samesite="lax",
    )
    return response


@routes.get(CALLBACK_PATH)
async def github_callback(
    request: Request,
    dashboard: DashboardDep,
    code: Annotated[str | None, Query(max_length=512)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Finish a GitHub sign-in; a missing or wrong `state` is refused."""
    try:
        if error:
            raise Forbidden(f"GitHub sign-in was not completed: {error}")
        user, next_path = await dashboard.github.finish(
            request.cookies.get(OAUTH_COOKIE), state, code, _callback_url(request, dashboard)
        )
    except AtelierError as exc:
        response = _login_page(request, dashboard, "/", exc.message, status=exc.status)
        response.delete_cookie(OAUTH_COOKIE, path=COOKIE_PATH)
        return response
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.delete_cookie(OAUTH_COOKIE, path=COOKIE_PATH)
    await dashboard.sessions.start(request, response, user.id)
    return response
