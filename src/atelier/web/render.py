"""Rendering: the Jinja2 environment, its filters, and page/fragment/error responses.

Templates are autoescaped. Every page gets the same base context (the viewer, the CSRF
token, which optional sources exist, the navigation) so templates never fetch anything.
HTML responses are never cached: they carry CSRF tokens and private data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from atelier import __version__
from atelier.core.auth import Principal

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
STATIC_PREFIX = "/ui/static"

TONES = {
    "running": "ok",
    "done": "ok",
    "ready": "ok",
    "queued": "busy",
    "creating": "busy",
    "starting": "busy",
    "stopping": "busy",
    "destroying": "busy",
    "review": "warn",
    "building": "busy",
    "busy": "busy",
    "paused": "warn",
    "stale": "warn",
    "retry": "warn",
    "error": "bad",
    "failed": "bad",
    "exited": "bad",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
        " img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none';"
        " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class NavItem:
    """One entry of the navigation."""

    key: str
    href: str
    label: str
    admin: bool = False


NAV = (
    NavItem("home", "/", "Mission control"),
    NavItem("tasks", "/tasks", "Tasks"),
    NavItem("sandboxes", "/sandboxes", "Sandboxes"),
    NavItem("workspaces", "/workspaces", "Workspaces"),
    NavItem("templates", "/templates", "Templates"),
    NavItem("images", "/images", "Images"),
    NavItem("system", "/system", "System"),
    NavItem("settings", "/settings", "Settings"),
)


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """Relative time such as "3 min ago"."""
    if value is None:
        return "never"
    when = value if value.tzinfo else value.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        text = "just now" if not future else "in a moment"
        return text
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            amount = round(seconds / size)
            return f"in {amount} {unit}" if future else f"{amount} {unit} ago"
    return "just now"


def when(value: datetime | None) -> str:
    """An absolute UTC timestamp."""
    if value is None:
        return ""
    stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def size(value: int | float | None) -> str:
    """Bytes in binary units."""
    if value is None:
        return "?"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"


def duration(seconds: float | None) -> str:
    """A duration such as "2 h 5 min"."""
    if seconds is None:
        return "?"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{total} s"


def tone(status: str | None) -> str:
    """The colour family of a status (always shown next to its text label)."""
    return TONES.get(status or "", "idle")


def label(status: str | None) -> str:
    """A status as words."""
    return (status or "unknown").replace("_", " ")


def environment() -> jinja2.Environment:
    """The dashboard's template environment."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "xml", "js"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ago=ago, when=when, size=size, duration=duration, tone=tone, label=label)
    env.globals.update(
        static=lambda path: f"{STATIC_PREFIX}/{path}?v={__version__}",
        version=__version__,
        nav=NAV,
    )
    return env


class Renderer:
    """Turns templates and context into HTML responses."""

    def __init__(self, features: Callable[[], dict[str, bool]], login: dict[str, bool]) -> None:
        self.env = environment()
        self.features = features
        self.login = login

    def html(
        self,
        request: Request,
        template: str,
        *,
        viewer: Principal | None,
        csrf: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """Render `template` with the base context."""
        base = {
            "request": request,
            "path": request.url.path,
            "viewer": viewer,
            "csrf": csrf,
            "features": self.features(),
            "login": self.login,
            "htmx": request.headers.get("hx-request") == "true",
        }
        body = self.env.get_template(template).render({**base, **context})
        return HTMLResponse(
            body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
        )
