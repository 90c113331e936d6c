"""certbot argv for the wildcard certificate, and its renewal units."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.runtime.proxy import certbot
from atelier.runtime.proxy.config import ProxyConfig, ProxySettings, resolve


def settings(**values: str) -> ProxySettings:
    return resolve(
        ProxyConfig(**values),
        data_dir=Path("/d"),
        run_dir=Path("/r"),
        manager_host="127.0.0.1",
        manager_port=4000,
    )


def test_obtain_with_cloudflare() -> None:
    argv = certbot.obtain_argv(
        settings(domain="dev.example.com"),
        plugin="cloudflare",
        credentials=Path("/etc/atelier/cloudflare.ini"),
        email="ops@example.com",
        propagation_seconds=30,
    )
    assert argv == [
        "certbot", "certonly",
        "--non-interactive",
        "--agree-tos",
        "--cert-name", "atelier",
        "--authenticator", "dns-cloudflare",
        "--domain", "*.dev.example.com",
        "--domain", "dev.example.com",
        "--key-type", "ecdsa",
        "--dns-cloudflare-credentials", "/etc/atelier/cloudflare.ini",
        "--dns-cloudflare-propagation-seconds", "30",
        "--email", "ops@example.com",
    ]  # fmt: skip


def test_obtain_route53_without_credentials_and_outside_dashboard() -> None:
    argv = certbot.obtain_argv(
        settings(domain="sbx.example.com", dashboard_host="atelier.example.com"),
        plugin="route53",
        credentials=None,
        email=None,
        staging=True,
    )
    assert argv[argv.index("--authenticator") + 1] == "dns-route53"
    assert "atelier.example.com" in argv
    assert "--register-unsafely-without-email" in argv
    assert argv[-1] == "--staging"
    assert not [a for a in argv if a.endswith("-credentials")]


def test_plugins_are_checked() -> None:
    with pytest.raises(ValueError, match="not one Debian ships"):
        certbot.obtain_argv(settings(), plugin="acme-dns", credentials=None, email=None)
    with pytest.raises(ValueError, match="needs a credentials file"):
        certbot.obtain_argv(settings(), plugin="cloudflare", credentials=None, email=None)
    assert certbot.debian_package("ovh") == "python3-certbot-dns-ovh"


def test_renewal_units() -> None:
    service = certbot.service_unit()
    assert "Type=oneshot\n" in service
    assert (
        "ExecStart=/usr/bin/certbot renew --cert-name atelier --non-interactive --quiet\n"
        in service
    )
    timer = certbot.timer_unit()
    assert "OnCalendar=*-*-* 00,12:00:00\n" in timer
    assert f"Unit={certbot.SERVICE_NAME}\n" in timer
    assert "Persistent=true" in timer
