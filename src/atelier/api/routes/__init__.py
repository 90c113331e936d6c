"""API routers, one module per resource."""

from fastapi import APIRouter

from atelier.api.routes import events, guest, health, proxy, sandboxes, ssh_keys, tokens, users

ROUTERS: list[APIRouter] = [
    health.router,
    sandboxes.router,
    guest.router,
    events.router,
    users.router,
    tokens.router,
    proxy.router,
    ssh_keys.router,
]

__all__ = ["ROUTERS"]
