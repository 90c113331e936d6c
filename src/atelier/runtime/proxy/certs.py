"""Certificate status for /health: the internal CA root, or the wildcard certificate files.

Reads files only; it never talks to Caddy or an ACME server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from atelier.runtime.proxy.base import CertStatus
from atelier.runtime.proxy.config import ProxySettings
from atelier.runtime.proxy.errors import CertificateError

# Below this the health check fails: renewal (certbot's timer) should have happened long before.
MIN_REMAINING = timedelta(days=3)


def internal_root(settings: ProxySettings) -> Path:
    """Where Caddy keeps the root of its internal CA (clients trust this file)."""
    return settings.storage_dir / "pki" / "authorities" / "local" / "root.crt"


def read_certificate(path: Path) -> x509.Certificate:
    """The first certificate of a PEM file; CertificateError when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CertificateError(
            f"cannot read certificate {path}: {exc.strerror}",
            hint="check proxy.cert_file and that certbot obtained the certificate",
        ) from exc
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise CertificateError(
            f"{path} holds no PEM certificate", hint="point proxy.cert_file at fullchain.pem"
        ) from exc


def dns_names(cert: x509.Certificate) -> list[str]:
    """The DNS names a certificate is valid for."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in san.value.get_values_for_type(x509.DNSName)]


def covers(cert: x509.Certificate, host: str) -> bool:
    """Whether the certificate is valid for `host` (one wildcard level, as TLS allows)."""
    host = host.lower()
    for name in dns_names(cert):
        if name == host:
            return True
        if name.startswith("*.") and host.count(".") == name.count(".") and host.endswith(name[1:]):
            return True
    return False


def _expiry(cert: x509.Certificate) -> datetime:
    return cert.not_valid_after_utc


def wildcard_status(settings: ProxySettings, now: datetime | None = None) -> CertStatus:
    """The wildcard certificate files: readable, covering the hosts, not about to expire."""
    now = now or datetime.now(UTC)
    try:
        cert = read_certificate(settings.cert_file)
    except CertificateError as exc:
        return CertStatus(False, exc.message)
    if not settings.key_file.is_file():
        return CertStatus(False, f"key file {settings.key_file} is missing", _expiry(cert))
    expires = _expiry(cert)
    missing = [h for h in (f"x.{settings.domain}", settings.dashboard_host) if not covers(cert, h)]
    if missing:
        return CertStatus(
            False,
            f"certificate does not cover {', '.join(missing)} (has {dns_names(cert)})",
            expires,
        )
    left = expires - now
    if left < MIN_REMAINING:
        state = "expired" if left.total_seconds() <= 0 else f"expires in {left}"
        return CertStatus(False, f"wildcard certificate {state}; run certbot renew", expires)
    return CertStatus(True, f"wildcard certificate valid until {expires:%Y-%m-%d}", expires)


def certificate_status(settings: ProxySettings, now: datetime | None = None) -> CertStatus:
    """The certificate state for the configured TLS mode."""
    if settings.tls == "off":
        return CertStatus(True, "TLS off: plain HTTP")
    if settings.tls == "wildcard_files":
        return wildcard_status(settings, now)
    if settings.tls == "on_demand":
        return CertStatus(True, f"on-demand certificates from {settings.acme_ca}")
    root = internal_root(settings)
    try:
        cert = read_certificate(root)
    except CertificateError:
        return CertStatus(False, f"internal CA root not created yet ({root})")
    expires = _expiry(cert)
    return CertStatus(True, f"internal CA root {root} valid until {expires:%Y-%m-%d}", expires)
