"""Endpoints of the HTTPS proxy: Caddy's forward-auth and on-demand TLS `ask`, the
sandbox-host handshake, and dev-URL visibility.

The /internal/ paths answer only requests carrying Caddy's shared secret (anything else
gets 404), and Caddy's dashboard route never forwards /internal/ at all. The handoff runs
on the dashboard host with the dashboard session; the handshake on each sandbox host
(`/__atelier/auth`, which Caddy rewrites to HANDSHAKE_PATH).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import HTTPConnection

from atelier.api.deps import SESSION_COOKIE, CurrentUser
from atelier.api.schemas.proxy import DevPortOut, VisibilityIn
from atelier.core import proxy as core_proxy
from atelier.core.proxy import Answer, ForwardedRequest, ProxyService
from atelier.errors import Unavailable

router = APIRouter(tags=["proxy"])


def get_proxy(connection: HTTPConnection) -> ProxyService:
    """The proxy service attached by `install_proxy`."""
    service = getattr(connection.app.state, "proxy", None)
    if not isinstance(service, ProxyService):
        raise Unavailable("the proxy is not set up on this manager", hint="see docs/proxy.md")
    return service


ProxyDep = Annotated[ProxyService, Depends(get_proxy)]


def render(answer: Answer) -> Response:
    """An access answer as a response; never cached."""
    headers = {"Cache-Control": "no-store", **answer.headers}
    if answer.location is not None:
        headers["Location"] = answer.location
    response: Response
    if answer.body is not None:
        response = JSONResponse(answer.body, status_code=answer.status, headers=headers)
    else:
        response = Response(status_code=answer.status, headers=headers)
    for cookie in answer.cookies:
        response.set_cookie(
            cookie.name,
            cookie.value,
            max_age=cookie.max_age,
            path="/",
            secure=cookie.secure,
            httponly=True,
            samesite="lax",
        )
    return response


@router.get(core_proxy.AUTHORIZE_PATH, include_in_schema=False)
async def authorize(request: Request, proxy: ProxyDep) -> Response:
    """Caddy's forward-auth: 200 lets the request through to the guest."""
    forwarded = ForwardedRequest.from_headers(request.headers, request.cookies)
    return render(await proxy.access.authorize(forwarded))


@router.get(core_proxy.HANDSHAKE_PATH, include_in_schema=False)
async def handshake(request: Request, proxy: ProxyDep, code: str = "", next: str = "/") -> Response:
    """On a sandbox host: trade a one-time code for the host-only cookie."""
    headers = request.headers
    answer = await proxy.access.complete(
        headers.get(core_proxy.HEADER_SECRET),
        headers.get(core_proxy.HEADER_HOST),
        code,
        next,
        request.cookies,
    )
    return render(answer)


@router.get(core_proxy.HANDOFF_PATH, include_in_schema=False)
async def handoff(
    request: Request, proxy: ProxyDep, host: str = "", next: str = "/", state: str = ""
) -> Response:
    """On the dashboard host: send a signed-in user back to `host` with a one-time code."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    session = request.cookies.get(SESSION_COOKIE)
    return render(await proxy.access.handoff(session, host, next, state, here))


@router.get(core_proxy.ASK_PATH, include_in_schema=False)
async def ask(proxy: ProxyDep, domain: str = "", key: str = "") -> Response:
    """On-demand TLS: 200 when Caddy may obtain a certificate for `domain`."""
    if await proxy.access.ask(key, domain):
        return JSONResponse({"allowed": True})
    return render(core_proxy.NOT_FOUND)


@router.put("/api/sandboxes/{sandbox_id}/dev/{name}/visibility")
async def set_visibility(
    sandbox_id: str, name: str, body: VisibilityIn, user: CurrentUser, proxy: ProxyDep
) -> DevPortOut:
    """Who may open a dev URL: private (owner), members (default) or public (anyone)."""
    port = await proxy.set_visibility(user, sandbox_id, name, body.visibility)
    return DevPortOut.of(port, proxy.dev_url(sandbox_id, name))
