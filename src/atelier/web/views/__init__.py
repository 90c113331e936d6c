"""Dashboard views, one module per page; each is thin: parse, one call, render."""

from fastapi import APIRouter

from atelier.web.views import (
    events,
    home,
    host,
    login,
    push,
    sandbox,
    sandboxes,
    settings,
    tasks,
    workspaces,
)

ROUTERS: list[APIRouter] = [
    login.routes,
    home.routes,
    tasks.routes,
    sandboxes.routes,
    sandbox.routes,
    workspaces.routes,
    host.routes,
    settings.routes,
    push.routes,
    events.routes,
]

__all__ = ["ROUTERS"]
