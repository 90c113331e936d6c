"""API routers, one module per resource."""

from fastapi import APIRouter

from atelier.api.routes import (
    attention,
    dev,
    events,
    git_sources,
    guest,
    health,
    opencode_config,
    pause,
    prebuilds,
    proxy,
    registry,
    sandboxes,
    session_templates,
    shared_auth,
    ssh_keys,
    tasks,
    tokens,
    users,
    workspaces,
)

ROUTERS: list[APIRouter] = [
    health.router,
    sandboxes.router,
    guest.router,
    events.router,
    users.router,
    tokens.router,
    proxy.router,
    ssh_keys.router,
    registry.router,
    workspaces.router,
    prebuilds.router,
    git_sources.router,
    dev.router,
    pause.router,
    tasks.router,
    session_templates.router,
    attention.router,
    opencode_config.router,
    shared_auth.router,
]

__all__ = ["ROUTERS"]
