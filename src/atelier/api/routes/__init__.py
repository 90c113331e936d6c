"""API routers, one module per resource."""

from fastapi import APIRouter

from atelier.api.routes import health, proxy, tokens, users

ROUTERS: list[APIRouter] = [health.router, users.router, tokens.router, proxy.router]

__all__ = ["ROUTERS"]
