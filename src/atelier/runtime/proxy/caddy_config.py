"""Caddy 2.6 JSON for Atelier: the base config and each sandbox route, built by pure functions.

The shapes follow what `caddy adapt` produces for the Caddyfile directives they stand for
(`forward_auth` is a `reverse_proxy` with a GET rewrite and a `handle_response` on 2xx).
Two deliberate differences: the forward-auth request drops the WebSocket upgrade headers
(otherwise uvicorn treats it as a WebSocket handshake and refuses it, which breaks
code-server), and the manager gets X-Atelier-* headers plus a shared secret so it can tell
requests from Caddy from anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atelier.runtime.host import names
from atelier.runtime.proxy import base
from atelier.runtime.proxy.base import InstalledRoute, RouteSpec
from atelier.runtime.proxy.config import ProxySettings

SERVER = "atelier"
REDIRECT_SERVER = "atelier-redirect"
ADMIN_ORIGIN = "caddy-admin"  # the Host header the admin API accepts on its Unix socket
ROUTES_PATH = f"/config/apps/http/servers/{SERVER}/routes"

# Matches one Atelier cookie (and the separator before it) inside a Cookie header value.
_ATELIER_COOKIE_RE = rf"(?:^|;\s*)(?:__Host-)?{base.COOKIE_PREFIX}[A-Za-z0-9_-]*=[^;]*"
_UPGRADE_HEADERS = (
    "Connection",
    "Upgrade",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Protocol",
)
FALLBACK_BODY = '{"error":"not_found","message":"nothing is published at this address"}'

Json = dict[str, Any]


@dataclass(frozen=True)
class CaddyLayout:
    """Renders Atelier's Caddy JSON for one set of proxy settings and shared secret."""

    settings: ProxySettings
    secret: str

    # -- handlers -------------------------------------------------------------------------

    def _to_manager(self, *, rewrite: Json | None = None, trusted: bool = True) -> Json:
        handler: Json = {"handler": "reverse_proxy", "upstreams": [self._manager()]}
        if trusted:
            handler["headers"] = {
                "request": {
                    "set": {
                        base.HEADER_SECRET: [self.secret],
                        base.HEADER_HOST: ["{http.request.host}"],
                        base.HEADER_URI: ["{http.request.uri}"],
                        base.HEADER_METHOD: ["{http.request.method}"],
                    }
                }
            }
        else:
            handler["headers"] = {"request": {"delete": list(base.ATELIER_HEADERS)}}
            handler["flush_interval"] = -1
        if rewrite is not None:
            handler["rewrite"] = rewrite
        return handler

    def _manager(self) -> Json:
        return {"dial": self.settings.manager_upstream}

    def forward_auth(self) -> Json:
        """Ask the manager whether this request may pass; a non-2xx answer goes to the client."""
        handler = self._to_manager(rewrite={"method": "GET", "uri": base.AUTHORIZE_PATH})
        handler["headers"]["request"]["delete"] = list(_UPGRADE_HEADERS)
        handler["handle_response"] = [
            {
                "match": {"status_code": [2]},
                "routes": [{"handle": [{"handler": "headers", "request": {}}]}],
            }
        ]
        return handler

    @staticmethod
    def strip_credentials() -> Json:
        """Remove Authorization and every Atelier cookie; the guest's own cookies stay."""
        return {
            "handler": "headers",
            "request": {
                "delete": ["Authorization", *base.ATELIER_HEADERS],
                "replace": {
                    "Cookie": [
                        {"search_regexp": _ATELIER_COOKIE_RE, "replace": ""},
                        {"search_regexp": r"^;?\s*", "replace": ""},
                    ]
                },
            },
        }

    @staticmethod
    def to_guest(dial: str) -> Json:
        """Stream to the guest service (no buffering: SSE, long polls, WebSockets)."""
        return {"handler": "reverse_proxy", "upstreams": [{"dial": dial}], "flush_interval": -1}

    @staticmethod
    def not_found() -> Json:
        """The catch-all answer."""
        return {
            "handler": "static_response",
            "status_code": 404,
            "headers": {"Content-Type": ["application/json"]},
            "body": FALLBACK_BODY,
        }

    # -- routes ---------------------------------------------------------------------------

    def service_route(self, spec: RouteSpec) -> Json:
        """A sandbox host: handshake path to the manager, then forward-auth, strip, proxy."""
        handshake = self._to_manager(
            rewrite={"uri": base.HANDSHAKE_PATH + "?{http.request.uri.query}"}
        )
        return {
            "@id": spec.route_id,
            "match": [{"host": [spec.host]}],
            "terminal": True,
            "handle": [
                {
                    "handler": "subroute",
                    "routes": [
                        {
                            "match": [{"path": [base.HANDSHAKE_PUBLIC_PATH]}],
                            "handle": [handshake],
                            "terminal": True,
                        },
                        {
                            "match": [{"path": [base.RESERVED_PREFIX + "*"]}],
                            "handle": [self.not_found()],
                            "terminal": True,
                        },
                        {
                            "handle": [
                                self.forward_auth(),
                                self.strip_credentials(),
                                self.to_guest(spec.upstream),
                            ]
                        },
                    ],
                }
            ],
        }

    def dashboard_route(self) -> Json:
        """The dashboard/API host: everything to the manager except its internal paths."""
        internal = base.INTERNAL_PREFIX
        return {
            "@id": names.ROUTE_DASHBOARD,
            "match": [{"host": [self.settings.dashboard_host]}],
            "terminal": True,
            "handle": [
                {
                    "handler": "subroute",
                    "routes": [
                        {
                            "match": [{"path": [internal.rstrip("/"), internal + "*"]}],
                            "handle": [self.not_found()],
                            "terminal": True,
                        },
                        {"handle": [self._to_manager(trusted=False)]},
                    ],
                }
            ],
        }

    def fallback_route(self) -> Json:
        """The catch-all 404 (Caddy answers an empty 200 for unmatched hosts otherwise)."""
        return {"@id": names.ROUTE_FALLBACK, "handle": [self.not_found()], "terminal": True}

    def redirect_route(self) -> Json:
        """HTTP to HTTPS on the public port."""
        port = "" if self.settings.public_port == 443 else f":{self.settings.public_port}"
        location = f"https://{{http.request.host}}{port}{{http.request.uri}}"
        return {
            "handle": [
                {
                    "handler": "static_response",
                    "status_code": 308,
                    "headers": {"Location": [location]},
                }
            ]
        }

    def parse_route(self, raw: Json) -> InstalledRoute | None:
        """The sandbox route in a Caddy route object, or None when it is not one."""
        route_id = raw.get("@id")
        if not isinstance(route_id, str) or names.parse_route_id(route_id) is None:
            return None
        try:
            host = raw["match"][0]["host"][0]
            dial = raw["handle"][0]["routes"][-1]["handle"][-1]["upstreams"][0]["dial"]
        except (KeyError, IndexError, TypeError):
            return InstalledRoute(RouteSpec(route_id, "", ""), current=False)
        spec = RouteSpec(route_id, str(host), str(dial))
        return InstalledRoute(spec, current=self.service_route(spec) == raw)

    # -- the whole config -----------------------------------------------------------------

    def _listen(self, port: int) -> list[str]:
        if not self.settings.listen:
            return [f":{port}"]
        return [f"[{a}]:{port}" if ":" in a else f"{a}:{port}" for a in self.settings.listen]

    def _tls_app(self) -> Json | None:
        s = self.settings
        if s.tls == "internal":
            # A catch-all policy: Caddy never goes to a public ACME CA for these names. The
            # wildcard lets any name under the domain complete TLS (an unknown or destroyed
            # sandbox then gets the catch-all 404, not a handshake failure).
            return {
                "automation": {
                    "policies": [
                        {"issuers": [{"module": "internal"}], "disable_ocsp_stapling": True}
                    ]
                },
                "certificates": {"automate": [f"*.{s.domain}"]},
            }
        if s.tls == "on_demand":
            issuer: Json = {"module": "acme", "ca": s.acme_ca}
            if s.acme_email:
                issuer["email"] = s.acme_email
            if s.acme_ca_roots:
                issuer["trusted_roots_pem_files"] = [str(p) for p in s.acme_ca_roots]
            ask = f"http://{s.manager_upstream}{base.ASK_PATH}?key={self.secret}"
            return {
                "automation": {
                    "policies": [{"issuers": [issuer], "on_demand": True}],
                    "on_demand": {"ask": ask},
                }
            }
        if s.tls == "wildcard_files":
            files = [{"certificate": str(s.cert_file), "key": str(s.key_file), "tags": ["atelier"]}]
            return {"certificates": {"load_files": files}}
        return None

    def _servers(self, routes: list[Json]) -> Json:
        s = self.settings
        main: Json = {"routes": routes}
        if s.tls == "off":
            main["listen"] = self._listen(s.http_port)
            main["automatic_https"] = {"disable": True}
            return {SERVER: main}
        main["listen"] = self._listen(s.https_port)
        main["tls_connection_policies"] = [{}]
        auto: Json = {"disable_redirects": True}
        if s.tls == "wildcard_files":
            auto["disable_certificates"] = True
        main["automatic_https"] = auto
        redirect = {"listen": self._listen(s.http_port), "routes": [self.redirect_route()]}
        return {SERVER: main, REDIRECT_SERVER: redirect}

    def base_config(self, sandbox_routes: list[Json] | None = None) -> Json:
        """The full config: admin on the Unix socket, storage, servers, TLS.

        `sandbox_routes` (and any other kept routes) go before the static routes.
        """
        s = self.settings
        routes = [*(sandbox_routes or []), self.dashboard_route(), self.fallback_route()]
        apps: Json = {
            "http": {
                "http_port": s.http_port,
                "https_port": s.https_port,
                "servers": self._servers(routes),
            }
        }
        tls = self._tls_app()
        if tls is not None:
            apps["tls"] = tls
        if s.tls == "internal":
            apps["pki"] = {"certificate_authorities": {"local": {"install_trust": False}}}
        return {
            "admin": {
                "listen": f"unix/{s.admin_socket}",
                "origins": [ADMIN_ORIGIN],
                "config": {"persist": False},
            },
            "storage": {"module": "file_system", "root": str(s.storage_dir)},
            "apps": apps,
        }
