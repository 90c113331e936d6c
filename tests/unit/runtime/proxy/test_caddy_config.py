"""The Caddy JSON Atelier builds: routes, the base config per TLS mode, route parsing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from atelier.runtime.host import names
from atelier.runtime.proxy.base import RouteSpec
from atelier.runtime.proxy.caddy_config import REDIRECT_SERVER, SERVER, CaddyLayout
from atelier.runtime.proxy.config import ProxyConfig, resolve

SECRET = "s3cret"


def layout(**values: Any) -> CaddyLayout:
    config = ProxyConfig(domain="atelier.test", **values)
    settings = resolve(
        config, data_dir=Path("/d"), run_dir=Path("/r"), manager_host="127.0.0.1", manager_port=4000
    )
    return CaddyLayout(settings, SECRET)


def spec() -> RouteSpec:
    ident = names.new_id()
    return RouteSpec(
        names.route_id("code", ident), f"sandbox-{ident}.atelier.test", "10.0.0.5:13337"
    )


def test_service_route_shape() -> None:
    s = spec()
    route = layout().service_route(s)
    assert route["@id"] == s.route_id
    assert route["match"] == [{"host": [s.host]}]
    assert route["terminal"] is True
    handshake, reserved, main = route["handle"][0]["routes"]
    assert handshake["match"] == [{"path": ["/__atelier/auth"]}]
    to_manager = handshake["handle"][0]
    assert to_manager["upstreams"] == [{"dial": "127.0.0.1:4000"}]
    assert to_manager["rewrite"] == {"uri": "/internal/proxy/handshake?{http.request.uri.query}"}
    assert to_manager["headers"]["request"]["set"]["X-Atelier-Proxy-Secret"] == [SECRET]
    assert reserved["match"] == [{"path": ["/__atelier/*"]}]
    assert reserved["handle"][0]["status_code"] == 404
    auth, strip, proxy = main["handle"]
    assert auth["rewrite"] == {"method": "GET", "uri": "/internal/proxy/authorize"}
    assert auth["handle_response"][0]["match"] == {"status_code": [2]}
    request = auth["headers"]["request"]
    assert request["set"]["X-Atelier-Host"] == ["{http.request.host}"]
    assert request["set"]["X-Atelier-Uri"] == ["{http.request.uri}"]
    assert {"Upgrade", "Connection", "Sec-WebSocket-Key"} <= set(request["delete"])
    assert "Authorization" in strip["request"]["delete"]
    assert proxy == {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": "10.0.0.5:13337"}],
        "flush_interval": -1,
    }


def _strip(value: str) -> str:
    """Apply the Cookie replacements the way Caddy does (RE2 and re agree on these)."""
    for rule in CaddyLayout.strip_credentials()["request"]["replace"]["Cookie"]:
        value = re.sub(rule["search_regexp"], rule["replace"], value)
    return value


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("atelier_session=a; app=1", "app=1"),
        ("app=1; atelier_session=a", "app=1"),
        ("app=1; __Host-atelier_sbx=v1.x.y.z; b=2", "app=1; b=2"),
        ("atelier_state=q", ""),
        ("a=1;atelier_sbx=2;c=3", "a=1;c=3"),
        ("my_atelier_x=1; atelierish=2", "my_atelier_x=1; atelierish=2"),
        ("sid=atelier_session", "sid=atelier_session"),
    ],
)
def test_cookie_stripping_rules(sent: str, kept: str) -> None:
    assert _strip(sent) == kept


def test_dashboard_route_blocks_internal_paths_and_strips_atelier_headers() -> None:
    route = layout().dashboard_route()
    assert route["@id"] == names.ROUTE_DASHBOARD
    assert route["match"] == [{"host": ["atelier.atelier.test"]}]
    block, forward = route["handle"][0]["routes"]
    assert block["match"] == [{"path": ["/internal", "/internal/*"]}]
    handler = forward["handle"][0]
    assert "X-Atelier-Proxy-Secret" in handler["headers"]["request"]["delete"]
    assert "set" not in handler["headers"]["request"]


def test_base_config_internal() -> None:
    config = layout(https_port=8443, http_port=8080, listen=["127.0.0.1", "::1"]).base_config()
    assert config["admin"] == {
        "listen": "unix//r/caddy/admin.sock",
        "origins": ["caddy-admin"],
        "config": {"persist": False},
    }
    assert config["storage"] == {"module": "file_system", "root": "/d/caddy/storage"}
    servers = config["apps"]["http"]["servers"]
    assert servers[SERVER]["listen"] == ["127.0.0.1:8443", "[::1]:8443"]
    assert [r.get("@id") for r in servers[SERVER]["routes"]] == [
        names.ROUTE_DASHBOARD,
        names.ROUTE_FALLBACK,
    ]
    redirect = servers[REDIRECT_SERVER]["routes"][0]["handle"][0]
    assert redirect["headers"]["Location"] == ["https://{http.request.host}:8443{http.request.uri}"]
    tls = config["apps"]["tls"]
    assert tls["automation"]["policies"][0]["issuers"] == [{"module": "internal"}]
    assert tls["certificates"] == {"automate": ["*.atelier.test"]}
    assert config["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"] is False
    json.dumps(config)


def test_base_config_on_demand() -> None:
    config = layout(
        tls="on_demand",
        acme_ca="https://ca.test/dir",
        acme_email="a@b.c",
        acme_ca_roots=["/ca.pem"],
    ).base_config()
    automation = config["apps"]["tls"]["automation"]
    policy = automation["policies"][0]
    assert policy["on_demand"] is True
    assert policy["issuers"] == [
        {"module": "acme", "ca": "https://ca.test/dir", "email": "a@b.c",
         "trusted_roots_pem_files": ["/ca.pem"]}
    ]  # fmt: skip
    assert (
        automation["on_demand"]["ask"] == f"http://127.0.0.1:4000/internal/proxy/ask?key={SECRET}"
    )


def test_base_config_wildcard_files_and_off() -> None:
    wildcard = layout(tls="wildcard_files", cert_file="/c.pem", key_file="/k.pem").base_config()
    assert wildcard["apps"]["tls"]["certificates"]["load_files"][0]["certificate"] == "/c.pem"
    assert wildcard["apps"]["http"]["servers"][SERVER]["automatic_https"] == {
        "disable_redirects": True,
        "disable_certificates": True,
    }
    plain = layout(tls="off", http_port=8080).base_config()
    servers = plain["apps"]["http"]["servers"]
    assert list(servers) == [SERVER]
    assert servers[SERVER]["listen"] == [":8080"]
    assert servers[SERVER]["automatic_https"] == {"disable": True}
    assert "tls" not in plain["apps"]


def test_sandbox_routes_go_before_static_routes() -> None:
    rendered = layout()
    route = rendered.service_route(spec())
    routes = rendered.base_config([route])["apps"]["http"]["servers"][SERVER]["routes"]
    assert routes[0] == route
    assert routes[-1]["@id"] == names.ROUTE_FALLBACK


def test_parse_route_round_trip_and_staleness() -> None:
    rendered = layout()
    s = spec()
    raw = rendered.service_route(s)
    parsed = rendered.parse_route(raw)
    assert parsed is not None and parsed.spec == s and parsed.current
    other_secret = CaddyLayout(rendered.settings, "rotated").parse_route(raw)
    assert other_secret is not None and other_secret.spec == s and not other_secret.current
    broken = rendered.parse_route({"@id": s.route_id, "handle": []})
    assert broken is not None and not broken.current
    assert rendered.parse_route(rendered.fallback_route()) is None
    assert rendered.parse_route({"@id": "someone-else"}) is None
