"""Shared fixed inputs for the network unit tests."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from atelier.runtime.network import addressing, policy
from atelier.runtime.network.policy import PortSpec, RulesSpec

SANDBOX = "abcdefgh"


def spec(**overrides: object) -> RulesSpec:
    values: dict[str, object] = {
        "bridge": "atl-br0",
        "subnet": IPv4Network("172.16.0.0/24"),
        "subnet6": IPv6Network("fd00:a7e1::/64"),
        "host4": IPv4Address("172.16.0.1"),
        "host6": IPv6Address("fd00:a7e1::1"),
        "allowed_host_ports": [4873],
        "host_networks": [IPv4Network("192.0.2.0/24"), IPv4Network("192.168.1.0/24")],
    }
    values.update(overrides)
    return policy.rules_spec(**values)  # type: ignore[arg-type]


def port() -> PortSpec:
    ip = IPv4Address("172.16.0.2")
    mac = addressing.guest_mac(ip)
    return PortSpec(
        sandbox_id=SANDBOX,
        tap=f"atl-{SANDBOX}",
        mac=mac,
        ip4=ip,
        ip6=IPv6Address("fd00:a7e1::2"),
        link_local6=addressing.link_local(mac),
    )
