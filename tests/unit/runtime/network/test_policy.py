"""The isolation policy as data: blocked networks, host networks, digests."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

from atelier.runtime.network import policy
from tests.unit.runtime.network._data import spec


def test_blocked_networks_always_include_metadata_private_and_loopback() -> None:
    v4, v6 = policy.blocked_networks([])
    for net in ("169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"):
        assert IPv4Network(net) in v4
    assert IPv6Network("fc00::/7") in v6 and IPv6Network("::1/128") in v6


def test_host_networks_are_added_and_overlaps_collapsed() -> None:
    v4, v6 = policy.blocked_networks(
        [IPv4Network("192.168.1.0/24"), IPv4Network("203.0.113.0/24"), IPv6Network("2001:db8::/64")]
    )
    assert IPv4Network("192.168.1.0/24") not in v4  # inside 192.168.0.0/16
    assert IPv4Network("203.0.113.0/24") in v4
    assert IPv6Network("2001:db8::/64") in v6
    assert len(v4) == len(set(v4))


def test_host_networks_skip_the_sandbox_subnets() -> None:
    found = policy.host_networks_from_addresses(
        [("192.0.2.2", 24), ("172.16.0.1", 24), ("fd00:a7e1::1", 64), ("2001:db8::5", 64)],
        exclude=[IPv4Network("172.16.0.0/24"), IPv6Network("fd00:a7e1::/64")],
    )
    assert found == [IPv4Network("192.0.2.0/24"), IPv6Network("2001:db8::/64")]


def test_dns_on_the_host_opens_port_53_and_host_dns_does_not() -> None:
    assert spec().tcp_ports == (53, 4873) and spec().udp_ports == (53,)
    host_dns = spec(dns_on_host=False)
    assert host_dns.tcp_ports == (4873,) and host_dns.udp_ports == ()


def test_ipv6_egress_needs_a_subnet6() -> None:
    assert spec(ipv6_egress=True).ipv6_egress
    assert not spec(ipv6_egress=True, subnet6=None, host6=None).ipv6_egress


def test_digest_changes_with_the_policy_only() -> None:
    assert spec().digest() == spec().digest()
    assert spec().digest() != spec(allowed_host_ports=[4873, 3141]).digest()
    assert spec().marker == f"atelier:{spec().digest()}"
