"""The proxy Protocol the manager drives, the data it exchanges, and the wire contract
between Caddy and the manager (internal paths, headers, the cookie prefix).

A driver publishes `RouteSpec`s (one hostname → one guest endpoint, always behind the
manager's forward-auth), keeps its static base config (dashboard host, catch-all 404)
loaded, and reports health. It never decides who may reach a sandbox: the manager does, at
the forward-auth endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

# Paths the manager serves for Caddy only; the dashboard route answers 404 for /internal/.
INTERNAL_PREFIX = "/internal/"
AUTHORIZE_PATH = "/internal/proxy/authorize"
HANDSHAKE_PATH = "/internal/proxy/handshake"
ASK_PATH = "/internal/proxy/ask"
# Reserved on every sandbox host: Caddy sends it to the manager, never to the guest.
RESERVED_PREFIX = "/__atelier/"
HANDSHAKE_PUBLIC_PATH = "/__atelier/auth"

# Set by Caddy on every request it sends to the manager's internal paths. The manager trusts
# the other X-Atelier-* headers only when the secret matches.
HEADER_SECRET = "X-Atelier-Proxy-Secret"
HEADER_HOST = "X-Atelier-Host"
HEADER_URI = "X-Atelier-Uri"
HEADER_METHOD = "X-Atelier-Method"
ATELIER_HEADERS = (HEADER_SECRET, HEADER_HOST, HEADER_URI, HEADER_METHOD)

# Every cookie Atelier sets starts with this (optionally after `__Host-`); Caddy removes
# all of them from requests before they reach a guest.
COOKIE_PREFIX = "atelier_"


@dataclass(frozen=True)
class RouteSpec:
    """One published hostname: requests pass forward-auth, then go to `upstream`."""

    route_id: str
    host: str
    upstream: str  # a Caddy dial string: host:port, [v6]:port or unix//path


@dataclass(frozen=True)
class InstalledRoute:
    """A sandbox route found in the running proxy; `current` when it is exactly what this
    driver renders for its spec now (a changed base setting makes old routes stale)."""

    spec: RouteSpec
    current: bool


@dataclass(frozen=True)
class CertStatus:
    """The state of the certificates the proxy serves."""

    ok: bool
    detail: str
    not_after: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "ok": self.ok,
            "detail": self.detail,
            "not_after": self.not_after.isoformat() if self.not_after else None,
        }


@dataclass(frozen=True)
class ProxyStatus:
    """What `/health` reports about the proxy."""

    reachable: bool
    base_loaded: bool
    routes: int
    certificate: CertStatus
    detail: str

    @property
    def ok(self) -> bool:
        """Reachable, configured and serving a usable certificate."""
        return self.reachable and self.base_loaded and self.certificate.ok


@runtime_checkable
class ProxyDriver(Protocol):
    """A reverse proxy the manager configures at run time."""

    name: str

    async def start(self) -> None:
        """Reach (or, in child mode, start) the proxy and load the base config.

        Raises ProxyUnavailable when it cannot be reached, ProxyError when it refuses.
        """
        ...

    async def stop(self) -> None:
        """Stop a proxy this driver started; a separate service is left running."""
        ...

    async def ensure_base(self) -> bool:
        """Load the base config when it is missing or outdated, keeping sandbox routes.

        Returns True when something was loaded. Raises ProxyUnavailable or ProxyError.
        """
        ...

    async def routes(self) -> list[InstalledRoute]:
        """Every sandbox route in the proxy (route ids that parse), duplicates included.

        Raises ProxyUnavailable.
        """
        ...

    async def put_route(self, spec: RouteSpec) -> None:
        """Add or replace the route with `spec.route_id`, before the catch-all; idempotent.

        Raises ProxyUnavailable or ProxyError.
        """
        ...

    async def delete_route(self, route_id: str) -> bool:
        """Remove every route with this id; False when there was none.

        Raises ProxyUnavailable or ProxyError.
        """
        ...

    async def status(self) -> ProxyStatus:
        """Reachability, base config, route count and certificate state; never raises."""
        ...

    async def reload_certificates(self) -> None:
        """Make the proxy read certificate files again (after a renewal).

        Raises ProxyUnavailable or ProxyError.
        """
        ...
