"""The Caddy driver: Caddy's admin API over its Unix socket, with explicit timeouts.

Route ids are unique by construction: Caddy accepts a duplicate `@id` silently, so `put_route`
replaces by id (PATCH) and inserts only when the id is unknown, `delete_route` deletes until
Caddy says the id is gone, and every change runs under one lock. New routes are inserted at
index 0, so the catch-all 404 stays last.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx

from atelier.runtime.host import names
from atelier.runtime.proxy.base import InstalledRoute, ProxyStatus, RouteSpec
from atelier.runtime.proxy.caddy_config import ADMIN_ORIGIN, ROUTES_PATH, SERVER, CaddyLayout
from atelier.runtime.proxy.certs import certificate_status
from atelier.runtime.proxy.config import ProxySettings
from atelier.runtime.proxy.errors import ProxyError, ProxyUnavailable
from atelier.runtime.proxy.process import CaddyProcess, write_config

log = logging.getLogger(__name__)

ADMIN_TIMEOUT = httpx.Timeout(10.0, connect=2.0)


def admin_client(
    settings: ProxySettings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one factory of clients for Caddy's admin API (Unix socket, explicit timeouts)."""
    transport = transport or httpx.AsyncHTTPTransport(uds=str(settings.admin_socket))
    return httpx.AsyncClient(
        transport=transport, base_url=f"http://{ADMIN_ORIGIN}", timeout=ADMIN_TIMEOUT
    )


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value))


class CaddyDriver:
    """Configures a Caddy instance through its admin API."""

    name = "caddy"

    def __init__(
        self,
        settings: ProxySettings,
        secret: str,
        *,
        process: CaddyProcess | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.layout = CaddyLayout(settings, secret)
        self._process = process
        self._client = admin_client(settings, transport)
        self._lock = asyncio.Lock()

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        missing_ok: bool = False,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response | None:
        """One admin request; None for a 404 when `missing_ok`."""
        try:
            response = await self._client.request(
                method,
                path,
                content=None if body is None else json.dumps(body).encode(),
                headers={"Content-Type": "application/json", **(headers or {})},
            )
        except (httpx.TransportError, OSError) as exc:
            raise ProxyUnavailable(
                f"Caddy's admin API at {self.settings.admin_socket} does not answer: {exc!r}",
                hint="start Caddy (systemctl start atelier-caddy, or proxy.caddy=child)",
            ) from exc
        # Caddy answers 404 for an unknown id and 400 for a config path that does not exist.
        missing = response.status_code == 404 or (
            response.status_code == 400 and "invalid traversal path" in response.text
        )
        if missing and missing_ok:
            return None
        if response.status_code >= 400:
            try:
                detail = response.json().get("error", response.text)
            except (ValueError, AttributeError):
                detail = response.text
            raise ProxyError(
                f"Caddy refused {method} {path}: {response.status_code} {detail}",
                hint="the Caddy log has the details (caddy.log in proxy.state_dir in child mode)",
            )
        return response

    async def _get(self, path: str) -> Any:
        response = await self._call("GET", path, missing_ok=True)
        return response.json() if response is not None and response.content else None

    async def start(self) -> None:
        """Start the child Caddy when this driver owns one, then load the base config.

        For a Caddy service the base config file is rewritten too, so a restart of the
        service comes back with the current dashboard route, TLS setup and secret.
        """
        if self._process is not None:
            await self._process.start(self.layout.base_config())
        else:
            write_config(self.settings, self.layout.base_config())
        await self.ensure_base()

    async def stop(self) -> None:
        """Stop the child Caddy (a separate service keeps running) and close the client."""
        try:
            if self._process is not None:
                await self._process.stop()
        finally:
            await self._client.aclose()

    @staticmethod
    def _server_routes(config: Any) -> list[dict[str, Any]]:
        try:
            routes = config["apps"]["http"]["servers"][SERVER]["routes"]
        except (KeyError, TypeError):
            return []
        return [r for r in routes if isinstance(r, dict)] if isinstance(routes, list) else []

    def _live_routes(self, config: Any) -> list[dict[str, Any]]:
        return [r for r in self._server_routes(config) if self.layout.parse_route(r)]

    async def ensure_base(self) -> bool:
        """Load the base config when the running one differs.

        Sandbox routes, and routes someone else added to Atelier's server, are kept in
        their order before the static dashboard and catch-all routes.
        """
        async with self._lock:
            return await self._ensure_base()

    async def _ensure_base(self) -> bool:
        static = (names.ROUTE_DASHBOARD, names.ROUTE_FALLBACK)
        current = await self._get("/config/")
        kept = [r for r in self._server_routes(current) if r.get("@id") not in static]
        desired = _normal(self.layout.base_config(kept))
        if current == desired:
            return False
        log.info("loading Atelier's base config into Caddy")
        await self._call("POST", "/load", desired)
        return True

    async def routes(self) -> list[InstalledRoute]:
        """Every sandbox route in Caddy, in order, duplicates included."""
        raw = await self._get(ROUTES_PATH) or []
        found = (self.layout.parse_route(r) for r in raw if isinstance(r, dict))
        return [r for r in found if r is not None]

    async def put_route(self, spec: RouteSpec) -> None:
        """Replace the route with this id (dropping duplicates), or insert it first.

        The live route list is read first: asking Caddy for an unknown id works too but logs
        an error for every new sandbox.
        """
        if names.parse_route_id(spec.route_id) is None:
            raise ProxyError(f"route id {spec.route_id!r} is not an Atelier sandbox route id")
        raw = self.layout.service_route(spec)
        async with self._lock:
            live = await self._get(ROUTES_PATH)
            if live is None:  # Caddy lost Atelier's server (restarted without its config)
                await self._ensure_base()
                live = []
            copies = sum(1 for r in live if isinstance(r, dict) and r.get("@id") == spec.route_id)
            for _ in range(copies - 1):
                await self._call("DELETE", f"/id/{spec.route_id}")
            if copies:
                await self._call("PATCH", f"/id/{spec.route_id}", raw)
            else:
                await self._call("PUT", f"{ROUTES_PATH}/0", raw)

    async def delete_route(self, route_id: str) -> bool:
        """Delete every copy of the route; False when there was none."""
        async with self._lock:
            live = await self._get(ROUTES_PATH) or []
            copies = sum(1 for r in live if isinstance(r, dict) and r.get("@id") == route_id)
            for _ in range(copies):
                await self._call("DELETE", f"/id/{route_id}")
        return copies > 0

    async def status(self) -> ProxyStatus:
        """What /health shows; never raises."""
        cert = certificate_status(self.settings)
        try:
            config = await self._get("/config/")
        except (ProxyUnavailable, ProxyError) as exc:
            return ProxyStatus(False, False, 0, cert, exc.message)
        routes = self._live_routes(config)
        try:
            static = config["apps"]["http"]["servers"][SERVER]["routes"][-1]["@id"]
        except (KeyError, IndexError, TypeError):
            static = None
        loaded = static == names.ROUTE_FALLBACK
        detail = f"{len(routes)} sandbox routes" if loaded else "Atelier's base config not loaded"
        return ProxyStatus(True, loaded, len(routes), cert, detail)

    async def reload_certificates(self) -> None:
        """Reload the running config so Caddy reads certificate files again."""
        async with self._lock:
            current = await self._get("/config/")
            # Caddy skips a /load of an unchanged config unless told to revalidate.
            await self._call("POST", "/load", current, headers={"Cache-Control": "must-revalidate"})
