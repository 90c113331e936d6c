"""Public hostnames: built per service, parsed back from Host headers."""

from __future__ import annotations

import pytest

from atelier.runtime.host.names import new_id
from atelier.runtime.proxy.hosts import ServiceHost, normalise, parse_host, service_host

DOMAIN = "dev.example.com"


def test_hostnames_of_each_service() -> None:
    ident = new_id()
    assert service_host(DOMAIN, "code", ident) == f"sandbox-{ident}.{DOMAIN}"
    assert service_host(DOMAIN, "opencode", ident) == f"opencode-{ident}.{DOMAIN}"
    assert service_host(DOMAIN, "browser", ident) == f"browser-{ident}.{DOMAIN}"
    assert service_host(DOMAIN, "dev", ident, "my-app") == f"dev-my-app-{ident}.{DOMAIN}"


def test_hostnames_parse_back_with_port_case_and_dot() -> None:
    ident = new_id()
    for kind, dev in (("code", None), ("opencode", None), ("browser", None), ("dev", "a-b")):
        host = service_host(DOMAIN, kind, ident, dev)  # type: ignore[arg-type]  # literal kinds
        expected = ServiceHost(kind, ident, dev)  # type: ignore[arg-type]  # literal kinds
        assert parse_host(DOMAIN, host) == expected
        assert parse_host(DOMAIN, host.upper() + ":8443") == expected
        assert parse_host(DOMAIN, host + ".") == expected
        assert expected.route_id.endswith(ident)


@pytest.mark.parametrize(
    "host",
    [
        "atelier.dev.example.com",
        "sandbox-abc.dev.example.com",
        "sandbox-abcdefgh.other.com",
        "sandbox-abcdefgh.evil-dev.example.com",
        "x.sandbox-abcdefgh.dev.example.com",
        "dev--abcdefgh.dev.example.com",
        "sandbox-abcdefgh.example.com",
        "",
    ],
)
def test_foreign_hosts_do_not_parse(host: str) -> None:
    assert parse_host(DOMAIN, host) is None


def test_normalise() -> None:
    assert normalise("Sandbox-X.Example.COM:443") == "sandbox-x.example.com"
    assert normalise("[::1]:8080") == "[::1]"
    assert normalise("example.com.") == "example.com"


def test_service_host_validates() -> None:
    with pytest.raises(ValueError):
        service_host(DOMAIN, "dev", new_id(), "Bad_Name")
