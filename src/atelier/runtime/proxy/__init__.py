"""The HTTPS proxy: Caddy configured at run time through its admin API on a Unix socket.

The manager uses it through the `ProxyDriver` Protocol (`start` → `ensure_base` →
`put_route`/`delete_route`/`routes` → `status`); `caddy_config` builds the JSON,
`process` runs Caddy (child mode, tests) or writes its systemd unit, `certbot` builds the
wildcard-certificate commands and units, and `hosts` names every public hostname.
"""

from atelier.runtime.proxy.base import (
    CertStatus,
    InstalledRoute,
    ProxyDriver,
    ProxyStatus,
    RouteSpec,
)
from atelier.runtime.proxy.caddy import CaddyDriver, admin_client
from atelier.runtime.proxy.caddy_config import CaddyLayout
from atelier.runtime.proxy.config import ProxyConfig, ProxySettings, resolve
from atelier.runtime.proxy.errors import CertificateError, ProxyError, ProxyUnavailable
from atelier.runtime.proxy.hosts import ServiceHost, parse_host, service_host
from atelier.runtime.proxy.process import CaddyProcess

__all__ = [
    "CaddyDriver",
    "CaddyLayout",
    "CaddyProcess",
    "CertStatus",
    "CertificateError",
    "InstalledRoute",
    "ProxyConfig",
    "ProxyDriver",
    "ProxyError",
    "ProxySettings",
    "ProxyStatus",
    "ProxyUnavailable",
    "RouteSpec",
    "ServiceHost",
    "admin_client",
    "parse_host",
    "service_host",
    "resolve",
]
