"""The proxy config section: validation and resolution of defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from atelier.config import AtelierConfig
from atelier.runtime.proxy.config import ProxyConfig, ProxySettings, resolve


def settings(**values: Any) -> ProxySettings:
    return resolve(
        ProxyConfig(**values),
        data_dir=Path("/var/lib/atelier"),
        run_dir=Path("/run/atelier"),
        manager_host="0.0.0.0",
        manager_port=4000,
    )


def test_defaults() -> None:
    s = settings()
    assert s.mode == "off"
    assert s.domain == "localhost"
    assert s.dashboard_host == "atelier.localhost"
    assert s.admin_socket == Path("/run/atelier/caddy/admin.sock")
    assert s.state_dir == Path("/var/lib/atelier/caddy")
    assert s.manager_upstream == "127.0.0.1:4000"
    assert s.tls == "internal" and s.scheme == "https"
    assert s.public_port == 443
    assert s.url("sandbox-x.localhost") == "https://sandbox-x.localhost/"
    assert s.cookie_ttl_s == 12 * 3600


def test_ports_and_urls() -> None:
    s = settings(domain="Example.COM.", https_port=8443, http_port=8080)
    assert s.domain == "example.com"
    assert s.url("a.example.com", "/x") == "https://a.example.com:8443/x"
    plain = settings(tls="off", http_port=8080, https_port=8443)
    assert plain.url("a.localhost") == "http://a.localhost:8080/"
    behind_nat = settings(https_port=8443, public_port=443)
    assert behind_nat.url("a.localhost") == "https://a.localhost/"


def test_manager_upstream_forms() -> None:
    assert settings(manager_upstream="10.0.0.1:9000").manager_upstream == "10.0.0.1:9000"
    ipv6 = resolve(
        ProxyConfig(), data_dir=Path("/d"), run_dir=Path("/r"), manager_host="::1", manager_port=1
    )
    assert ipv6.manager_upstream == "[::1]:1"


@pytest.mark.parametrize(
    "values",
    [
        {"domain": "bad_domain"},
        {"domain": "-x.com"},
        {"dashboard_host": "a..b"},
        {"http_port": 443},
        {"tls": "on_demand", "acme_ca": "http://insecure/dir"},
        {"tls": "acme"},
        {"unknown": 1},
        {"login_path": "login"},
    ],
)
def test_invalid_values(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ProxyConfig(**values)


def test_section_is_part_of_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_PROXY_DOMAIN", "atelier.example.org")
    config = AtelierConfig()
    assert config.proxy.domain == "atelier.example.org"
