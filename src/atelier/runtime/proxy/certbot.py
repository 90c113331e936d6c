"""The wildcard certificate (`proxy.tls = "wildcard_files"`): certbot argv and renewal units.

Debian's Caddy has no DNS provider modules, so a wildcard certificate comes from certbot
with a DNS plugin from Debian (`apt-get install certbot python3-certbot-dns-<plugin>`).
Caddy loads the files; the manager notices a renewal (the file changes) and makes Caddy
read them again. Nothing here runs certbot: `atelier init` runs the argv once and installs
the units.
"""

from __future__ import annotations

from pathlib import Path

from atelier.runtime.proxy.config import ProxySettings

CERT_NAME = "atelier"
SERVICE_NAME = "atelier-certbot.service"
TIMER_NAME = "atelier-certbot.timer"

# Debian 12's DNS plugins (python3-certbot-dns-<name>) and whether they take a credentials file.
DNS_PLUGINS: dict[str, bool] = {
    "cloudflare": True,
    "digitalocean": True,
    "dnsimple": True,
    "gandi": True,
    "gehirn": True,
    "google": True,
    "linode": True,
    "ovh": True,
    "rfc2136": True,
    "route53": False,  # AWS credentials come from the environment or ~/.aws
    "sakuracloud": True,
    "standalone": False,  # answers the challenge with its own DNS server
}


def debian_package(plugin: str) -> str:
    """The Debian package of a DNS plugin."""
    return f"python3-certbot-dns-{plugin}"


def _check_plugin(plugin: str, credentials: Path | None) -> None:
    if plugin not in DNS_PLUGINS:
        allowed = ", ".join(sorted(DNS_PLUGINS))
        raise ValueError(f"certbot DNS plugin {plugin!r} is not one Debian ships: use {allowed}")
    if DNS_PLUGINS[plugin] and credentials is None:
        raise ValueError(f"certbot DNS plugin {plugin!r} needs a credentials file")


def obtain_argv(
    settings: ProxySettings,
    *,
    plugin: str,
    credentials: Path | None,
    email: str | None,
    propagation_seconds: int | None = None,
    staging: bool = False,
    certbot: str = "certbot",
) -> list[str]:
    """certbot's argv obtaining `*.<domain>` (plus `<domain>`) through a DNS-01 challenge."""
    _check_plugin(plugin, credentials)
    argv = [
        certbot, "certonly",
        "--non-interactive",
        "--agree-tos",
        "--cert-name", CERT_NAME,
        "--authenticator", f"dns-{plugin}",
        "--domain", f"*.{settings.domain}",
        "--domain", settings.domain,
        "--key-type", "ecdsa",
    ]  # fmt: skip
    if not settings.dashboard_host.endswith("." + settings.domain):
        argv += ["--domain", settings.dashboard_host]
    if credentials is not None:
        argv += [f"--dns-{plugin}-credentials", str(credentials)]
    if propagation_seconds is not None:
        argv += [f"--dns-{plugin}-propagation-seconds", str(propagation_seconds)]
    argv += ["--email", email] if email else ["--register-unsafely-without-email"]
    if staging:
        argv.append("--staging")
    return argv


def renew_argv(certbot: str = "/usr/bin/certbot") -> list[str]:
    """certbot's argv renewing Atelier's certificate when it is due (a no-op otherwise)."""
    return [certbot, "renew", "--cert-name", CERT_NAME, "--non-interactive", "--quiet"]


def service_unit(certbot: str = "/usr/bin/certbot") -> str:
    """The oneshot unit the timer starts."""
    return f"""[Unit]
Description=Renew Atelier's wildcard certificate
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart={" ".join(renew_argv(certbot))}
PrivateTmp=yes
"""


def timer_unit() -> str:
    """Twice a day with a random delay, as Debian's own certbot timer does."""
    return f"""[Unit]
Description=Renew Atelier's wildcard certificate twice a day

[Timer]
OnCalendar=*-*-* 00,12:00:00
RandomizedDelaySec=43200
Persistent=true
Unit={SERVICE_NAME}

[Install]
WantedBy=timers.target
"""
