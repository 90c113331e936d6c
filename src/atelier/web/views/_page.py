"""What every view ends with: a rendered page or fragment, or the answer to an action."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from atelier.core.auth import Principal
from atelier.web.dashboard import Dashboard
from atelier.web.routing import PageRoute, dashboard_of, is_htmx

FLASH_TARGET = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}


def router() -> APIRouter:
    """A router whose routes get the dashboard's CSRF check and error pages."""
    return APIRouter(route_class=PageRoute, include_in_schema=False)


def page(
    request: Request,
    viewer: Principal | None,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    csrf: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a page or fragment for `viewer`."""
    dashboard: Dashboard = dashboard_of(request)
    token = csrf if csrf is not None else dashboard.sessions.csrf_for(viewer, request)
    return dashboard.render.html(
        request, template, viewer=viewer, csrf=token, status=status, headers=headers, **context
    )


def done(
    request: Request,
    viewer: Principal,
    message: str,
    *,
    back: str,
    kind: str = "ok",
    hint: str | None = None,
) -> Response:
    """After an action: a flash message (htmx; live sections refresh), else a redirect."""
    if is_htmx(request):
        headers = {**FLASH_TARGET, "HX-Trigger": "refresh"}
        return page(
            request,
            viewer,
            "partials/flash.html",
            headers=headers,
            kind=kind,
            message=message,
            hint=hint,
        )
    return RedirectResponse(back, status_code=303)


def go(request: Request, location: str) -> Response:
    """Navigate to another page (htmx follows `HX-Location` without a full reload)."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Location": location})
    return RedirectResponse(location, status_code=303)
