"""How every dashboard route runs: CSRF first, then the view, errors as HTML.

`PageRoute` wraps each view. Unsafe methods are refused (403) without a valid CSRF token
before the view runs, so no view can forget the check. `LoginRequired` becomes a redirect
to `/login?next=…` (for htmx requests an `HX-Redirect`), and an `AtelierError` becomes an
error page, or for htmx requests a message swapped into the page's `#flash` region, with
the error's own status. Views depend on `ViewerDep` and `DashboardDep`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response

from atelier.core.auth import Principal
from atelier.errors import AtelierError
from atelier.web.auth import CsrfRejected, LoginRequired, safe_next
from atelier.web.dashboard import Dashboard
from atelier.web.render import SECURITY_HEADERS

log = logging.getLogger(__name__)


def dashboard_of(connection: HTTPConnection) -> Dashboard:
    """The dashboard mounted on this app."""
    found = connection.app.state.dashboard
    assert isinstance(found, Dashboard)
    return found


async def viewer(request: Request) -> Principal:
    """The signed-in user; LoginRequired otherwise."""
    found = await dashboard_of(request).sessions.viewer(request)
    if found is None:
        raise LoginRequired()
    return found


ViewerDep = Annotated[Principal, Depends(viewer)]
DashboardDep = Annotated[Dashboard, Depends(dashboard_of)]


def is_htmx(request: Request) -> bool:
    """Whether htmx sent this request (it swaps the answer into the page)."""
    return request.headers.get("hx-request") == "true"


def login_redirect(request: Request) -> Response:
    """Send the browser to the login page, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if is_htmx(request):
        current = urlsplit(request.headers.get("hx-current-url", "/"))
        back = current.path + (f"?{current.query}" if current.query else "")
        target = "/login?" + urlencode({"next": safe_next(back)})
        return Response(status_code=401, headers={"HX-Redirect": target})
    if request.method not in ("GET", "HEAD"):
        here = "/"
    return RedirectResponse("/login?" + urlencode({"next": safe_next(here)}), status_code=303)


async def error_response(
    request: Request, status: int, message: str, hint: str | None = None
) -> Response:
    """The error as a page, or as a flash message for htmx."""
    dashboard = dashboard_of(request)
    viewer_now = await dashboard.sessions.viewer(request)
    csrf = dashboard.sessions.csrf_for(viewer_now, request)
    if is_htmx(request):
        return dashboard.render.html(
            request,
            "partials/flash.html",
            viewer=viewer_now,
            csrf=csrf,
            status=status,
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"},
            kind="error",
            message=message,
            hint=hint,
        )
    return dashboard.render.html(
        request,
        "error.html",
        viewer=viewer_now,
        csrf=csrf,
        status=status,
        status_code=status,
        message=message,
        hint=hint,
    )


class PageRoute(APIRoute):
    """An APIRoute with the dashboard's CSRF check and HTML error handling."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                await dashboard_of(request).sessions.check_csrf(request)
                response = await inner(request)
            except LoginRequired:
                return login_redirect(request)
            except CsrfRejected:
                return await error_response(
                    request,
                    403,
                    "this form has expired or did not come from this dashboard",
                    "reload the page and try again",
                )
            except AtelierError as exc:
                return await error_response(request, exc.status, exc.message, exc.hint)
            except RequestValidationError as exc:
                return await error_response(request, 400, _problems(exc))
            except StarletteHTTPException as exc:
                return await error_response(request, exc.status_code, str(exc.detail))
            except Exception:
                request_id = secrets.token_hex(6)
                log.exception(
                    "dashboard error %s on %s %s", request_id, request.method, request.url.path
                )
                return await error_response(
                    request, 500, f"internal error (request id {request_id})", "see the manager log"
                )
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return handler


def _problems(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where or 'input'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid input"
