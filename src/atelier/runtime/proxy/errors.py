"""Errors of the proxy driver (Caddy admin API, Caddy process, certificates).

    AtelierError
    ├── Unavailable (503)
    │   └── ProxyUnavailable        Caddy's admin API does not answer (not running, no socket)
    └── HostError (500)
        └── ProxyError              Caddy refused a config change or failed to start
            └── CertificateError    a certificate file is missing, unreadable or invalid

Access refusals are not errors of this package: the manager answers them (core.proxy).
"""

from __future__ import annotations

from atelier.errors import HostError, Unavailable


class ProxyUnavailable(Unavailable):
    """Caddy's admin API cannot be reached."""

    code = "proxy_unavailable"


class ProxyError(HostError):
    """Caddy refused a request of its admin API, or its process failed."""

    code = "proxy_error"


class CertificateError(ProxyError):
    """A certificate or key file cannot be used."""

    code = "proxy_certificate_error"
