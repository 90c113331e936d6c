"""Guest DNS: resolv.conf parsing and the dnsmasq command line."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

import pytest

from atelier.runtime.network import dns
from atelier.runtime.network.errors import NetworkError


def test_parse_resolv_conf() -> None:
    text = "# comment\nnameserver 127.0.0.53\nsearch lan\nnameserver fe80::1%eth0\nnameserver x\n"
    assert dns.parse_resolv_conf(text) == [ip_address("127.0.0.53"), ip_address("fe80::1")]


def test_guests_cannot_use_loopback_or_link_local_resolvers() -> None:
    found = [ip_address(a) for a in ("127.0.0.53", "fe80::1", "192.168.1.1", "2001:db8::53")]
    assert dns.guest_resolvers(found) == [ip_address("192.168.1.1"), ip_address("2001:db8::53")]


def test_host_resolvers_prefer_the_netns_file(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 192.0.2.53\n")
    assert dns.host_resolvers(None, conf) == [ip_address("192.0.2.53")]
    assert dns.host_resolvers(None, tmp_path / "missing") == []


def test_dnsmasq_listens_on_the_bridge_only_and_serves_no_dhcp() -> None:
    args = dns.dnsmasq_args(
        listen=[ip_address("172.16.0.1"), ip_address("fd00:a7e1::1")],
        upstream=[ip_address("127.0.0.53")],
        pid_file=Path("/run/atelier/network/atl-br0/dnsmasq.pid"),
        log_file=Path("/run/atelier/network/atl-br0/dnsmasq.log"),
    )
    assert args == [
        "--conf-file=/dev/null",
        "--pid-file=/run/atelier/network/atl-br0/dnsmasq.pid",
        "--log-facility=/run/atelier/network/atl-br0/dnsmasq.log",
        "--bind-interfaces",
        "--listen-address=172.16.0.1",
        "--listen-address=fd00:a7e1::1",
        "--no-resolv",
        "--no-hosts",
        "--domain-needed",
        "--bogus-priv",
        "--cache-size=1000",
        "--server=127.0.0.53",
    ]
    assert not any("dhcp" in a for a in args)


def test_dnsmasq_without_upstream_is_an_error_naming_the_setting() -> None:
    with pytest.raises(NetworkError) as caught:
        dns.dnsmasq_args(listen=[], upstream=[], pid_file=Path("p"), log_file=Path("l"))
    assert caught.value.field == "network.upstream_dns"
