"""The FastAPI application factory.

`create_app(manager)` wires routes, the error envelope and the lifespan that starts and
stops the manager. OpenAPI is served at /openapi.json with its UI at /swagger.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from atelier import __version__
from atelier.api import errors
from atelier.api.routes import ROUTERS
from atelier.core.manager import Manager


def create_app(manager: Manager, *, manage_lifecycle: bool = True) -> FastAPI:
    """An app serving `manager`; with `manage_lifecycle` it starts and stops it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await manager.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await manager.stop()

    app = FastAPI(
        title="Atelier",
        version=__version__,
        description="Self-hosted microVM development sandboxes.",
        docs_url="/swagger",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.manager = manager
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    for extend in manager.app_extensions:
        extend(app)
    return app
