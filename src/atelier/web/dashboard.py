"""The dashboard as a whole: its services, and how it joins a manager and its app.

`install_dashboard(manager, sources=...)` builds a `Dashboard` and registers it with the
manager: an app extension mounts its pages, static files, event stream and service worker
on the manager's FastAPI app; a start hook runs Web Push delivery in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import RedirectResponse

from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.core.proxy import ProxyService
from atelier.web.auth import LoginThrottle, Sessions
from atelier.web.keys import WebKeys
from atelier.web.oauth import GitHubLogin
from atelier.web.push import PushService
from atelier.web.render import STATIC, STATIC_PREFIX, Renderer
from atelier.web.sources import Sources
from atelier.web.sources.account import Account
from atelier.web.sources.overview import Overview
from atelier.web.sources.sandboxes import SandboxBoard
from atelier.web.sources.system import SystemFacts
from atelier.web.webpush import VapidKeys


class Dashboard:
    """Everything the dashboard's views use."""

    def __init__(self, manager: Manager, sources: Sources) -> None:
        config = manager.config
        self.manager = manager
        self.config = config.web
        self.sources = sources
        secret = config.server.session_secret
        self.keys = WebKeys.load(
            config.paths.data_dir, secret.get_secret_value() if secret else None
        )
        self.sessions = Sessions(
            manager.auth,
            self.keys,
            hours=self.config.session_hours,
            public_url=config.server.public_url,
        )
        self.github = GitHubLogin(self.config, self.keys, manager.auth)
        self.throttle = LoginThrottle()
        self.push = PushService(manager, self.config, VapidKeys.load(config.paths.data_dir))
        self._app_state: Any = None
        self.sandboxes = SandboxBoard(manager, self.proxy)
        self.system = SystemFacts(manager)
        self.overview = Overview(sources, self.sandboxes)
        self.account = Account(manager, self.push, sources)
        self.render = Renderer(
            self.features,
            {"password": self.config.password_login, "github": self.github.enabled},
        )
        self._push_task: asyncio.Task[None] | None = None

    def features(self) -> dict[str, bool]:
        """Which optional sources this manager has."""
        return {name: getattr(self.sources, name) is not None for name in vars(self.sources)}

    def proxy(self) -> ProxyService | None:
        """The proxy service, when `install_proxy` attached one to the app."""
        found = getattr(self._app_state, "proxy", None) if self._app_state is not None else None
        return found if isinstance(found, ProxyService) else None

    def attach(self, app: FastAPI) -> None:
        """Mount pages, fragments, the event stream and static files on `app`."""
        from atelier.web.views import ROUTERS  # views import this module for their types

        app.state.dashboard = self
        self._app_state = app.state
        app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC), name="dashboard-static")
        for router in ROUTERS:
            app.include_router(router)
        login_path = self.manager.config.proxy.login_path
        if login_path != "/login":
            # The proxy's sign-in handshake sends browsers to proxy.login_path.
            async def login_alias(request: Request) -> RedirectResponse:
                query = f"?{request.url.query}" if request.url.query else ""
                return RedirectResponse(f"/login{query}", status_code=303)

            app.add_api_route(login_path, login_alias, include_in_schema=False)

    async def start(self) -> None:
        """Start delivering notifications."""
        self._push_task = asyncio.create_task(self.push.run(), name="web-push")

    async def stop(self) -> None:
        """Stop delivering notifications and let running actions finish."""
        if self._push_task is not None:
            self._push_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._push_task
        await self.sandboxes.drain()

    async def viewer(self, request: Request) -> Principal | None:
        """The signed-in user of a request."""
        return await self.sessions.viewer(request)


def install_dashboard(manager: Manager, *, sources: Sources | None = None) -> Dashboard:
    """Build the dashboard for `manager` and register it (call before `create_app`)."""
    dashboard = Dashboard(manager, sources or Sources())
    manager.app_extensions.append(dashboard.attach)
    manager.on_start(dashboard.start)
    manager.on_stop(dashboard.stop)
    return dashboard
