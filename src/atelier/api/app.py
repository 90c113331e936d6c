"""The FastAPI application factory.

`create_app(manager)` wires routes, the error envelope and the lifespan that starts and
stops the manager. OpenAPI is served at /openapi.json with its UI at /swagger.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # no stubs

from atelier import __version__
from atelier.api import errors
from atelier.api.deps import CurrentUser
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
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.manager = manager
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    _docs(app)
    for extend in manager.app_extensions:
        extend(app)
    return app


def _docs(app: FastAPI) -> None:
    # Swagger UI's own JS/CSS, vendored by the swagger-ui-bundle package: no CDN at run time.
    app.mount("/swagger-assets", StaticFiles(directory=swagger_ui_path), name="swagger-assets")

    # The API description is not public: it needs a credential like every /api route.
    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(_user: CurrentUser) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/swagger", include_in_schema=False)
    async def swagger(_user: CurrentUser) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Atelier API",
            swagger_js_url="/swagger-assets/swagger-ui-bundle.js",
            swagger_css_url="/swagger-assets/swagger-ui.css",
        )
