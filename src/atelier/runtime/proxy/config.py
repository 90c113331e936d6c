"""Configuration section for the HTTPS proxy (`proxy`) and its resolved form.

`ProxyConfig` holds what an operator sets; `ProxySettings` is the same with every default
resolved against the manager's paths and listen address (`resolve`). Derived values are
recomputed on every start, never stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CaddyMode = Literal["off", "service", "child"]
TlsMode = Literal["internal", "on_demand", "wildcard_files", "off"]

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
CERTBOT_LIVE = Path("/etc/letsencrypt/live/atelier")


def _domain(value: str, field: str) -> str:
    value = value.strip().lower().rstrip(".")
    if not _DOMAIN_RE.match(value) or len(value) > 200:
        raise ValueError(
            f"{field} {value!r} is not a DNS name: use dot-separated labels of a-z, 0-9 and '-'"
        )
    return value


class ProxyConfig(BaseModel):
    """How sandbox services and the dashboard are published through Caddy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    caddy: CaddyMode = Field(
        "off",
        description="off: no proxy; service: a separate Caddy service (systemd unit from"
        " `atelier init`) that the manager configures; child: the manager runs its own Caddy",
    )
    caddy_binary: str = Field("caddy", description="the caddy executable (Debian's caddy)")
    domain: str = Field("localhost", description="base domain; hosts are <name>.<domain>")
    dashboard_host: str | None = Field(None, description="default: atelier.<domain>")
    http_port: int = Field(80, ge=1, le=65535)
    https_port: int = Field(443, ge=1, le=65535)
    listen: list[str] = Field(
        default_factory=list,
        description="addresses Caddy binds (e.g. 127.0.0.1); empty: every interface",
    )
    public_port: int | None = Field(
        None, ge=1, le=65535, description="port in published URLs; default the https/http port"
    )
    admin_socket: Path | None = Field(
        None, description="Caddy's admin API Unix socket; default <run_dir>/caddy/admin.sock"
    )
    state_dir: Path | None = Field(
        None, description="Caddy's storage, base config and log; default <data_dir>/caddy"
    )
    manager_upstream: str | None = Field(
        None, description="where Caddy reaches the manager (host:port); default server.host:port"
    )
    tls: TlsMode = Field(
        "internal",
        description="internal: Caddy's own CA; on_demand: ACME at first handshake, allowed by"
        " the manager; wildcard_files: a certificate obtained by certbot; off: plain HTTP",
    )
    acme_ca: str = Field(LETSENCRYPT, description="ACME directory URL for on_demand")
    acme_email: str | None = Field(None, description="ACME account e-mail for on_demand")
    acme_ca_roots: list[Path] = Field(
        default_factory=list, description="extra PEM roots to trust for the ACME server"
    )
    cert_file: Path = Field(
        CERTBOT_LIVE / "fullchain.pem", description="wildcard_files: the certificate chain"
    )
    key_file: Path = Field(CERTBOT_LIVE / "privkey.pem", description="wildcard_files: its key")
    certbot_dns_plugin: str | None = Field(
        None,
        pattern=r"^[a-z0-9]+$",
        description="wildcard_files: DNS plugin (python3-certbot-dns-<plugin>), e.g. cloudflare",
    )
    certbot_credentials: Path | None = Field(None, description="the DNS plugin's credentials")
    cookie_ttl_hours: float = Field(12, gt=0, le=24 * 30, description="sandbox-host cookie life")
    login_path: str = Field("/login", pattern=r"^/", description="the dashboard's login page")
    resync_interval_s: float = Field(
        30, gt=0, description="how often the manager reconciles Caddy's routes"
    )

    @field_validator("domain")
    @classmethod
    def _check_domain(cls, value: str) -> str:
        return _domain(value, "domain")

    @field_validator("dashboard_host")
    @classmethod
    def _check_dashboard(cls, value: str | None) -> str | None:
        return None if value is None else _domain(value, "dashboard_host")

    @model_validator(mode="after")
    def _ports(self) -> ProxyConfig:
        if self.http_port == self.https_port:
            raise ValueError(f"http_port and https_port are both {self.http_port}")
        if self.tls == "on_demand" and not self.acme_ca.startswith("https://"):
            raise ValueError(f"acme_ca {self.acme_ca!r} must be an https:// URL")
        return self


@dataclass(frozen=True)
class ProxySettings:
    """The proxy configuration with every default resolved."""

    mode: CaddyMode
    caddy_binary: str
    domain: str
    dashboard_host: str
    http_port: int
    https_port: int
    listen: tuple[str, ...]
    public_port: int
    admin_socket: Path
    state_dir: Path
    manager_upstream: str
    tls: TlsMode
    acme_ca: str
    acme_email: str | None
    acme_ca_roots: tuple[Path, ...]
    cert_file: Path
    key_file: Path
    cookie_ttl_s: int
    login_path: str
    resync_interval_s: float

    @property
    def scheme(self) -> str:
        """`https`, or `http` when TLS is off."""
        return "http" if self.tls == "off" else "https"

    @property
    def storage_dir(self) -> Path:
        """Caddy's certificate storage (its internal CA lives under pki/)."""
        return self.state_dir / "storage"

    @property
    def config_file(self) -> Path:
        """The base config file Caddy starts from."""
        return self.state_dir / "atelier-caddy.json"

    def url(self, host: str, path: str = "/") -> str:
        """The public URL of `path` on `host`, with the port when it is not the default."""
        default = 80 if self.scheme == "http" else 443
        port = "" if self.public_port == default else f":{self.public_port}"
        return f"{self.scheme}://{host}{port}{path}"


def resolve(
    config: ProxyConfig,
    *,
    data_dir: Path,
    run_dir: Path,
    manager_host: str,
    manager_port: int,
) -> ProxySettings:
    """Resolve defaults against the manager's paths and listen address."""
    served_port = config.http_port if config.tls == "off" else config.https_port
    if config.manager_upstream:
        upstream = config.manager_upstream
    else:
        host = "127.0.0.1" if manager_host in ("0.0.0.0", "", "localhost") else manager_host
        host = "[::1]" if host == "::" else (f"[{host}]" if ":" in host else host)
        upstream = f"{host}:{manager_port}"
    return ProxySettings(
        mode=config.caddy,
        caddy_binary=config.caddy_binary,
        domain=config.domain,
        dashboard_host=config.dashboard_host or f"atelier.{config.domain}",
        http_port=config.http_port,
        https_port=config.https_port,
        listen=tuple(config.listen),
        public_port=config.public_port or served_port,
        admin_socket=config.admin_socket or run_dir / "caddy" / "admin.sock",
        state_dir=config.state_dir or data_dir / "caddy",
        manager_upstream=upstream,
        tls=config.tls,
        acme_ca=config.acme_ca,
        acme_email=config.acme_email,
        acme_ca_roots=tuple(config.acme_ca_roots),
        cert_file=config.cert_file,
        key_file=config.key_file,
        cookie_ttl_s=int(config.cookie_ttl_hours * 3600),
        login_path=config.login_path,
        resync_interval_s=config.resync_interval_s,
    )
