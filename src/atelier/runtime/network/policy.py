"""What the isolation rules must say, independent of the firewall that enforces them.

`RulesSpec` is the host-wide policy (bridge, subnets, ports guests may reach on the host,
networks they may never reach); `PortSpec` pins one TAP to its sandbox's MAC and addresses.
`nft.py` and `iptables.py` render them; both are pure data, so golden tests cover the rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    collapse_addresses,
    ip_network,
)

from atelier.runtime.host import names
from atelier.runtime.network.base import Allocation

RULES_VERSION = 1  # bump when the rendered rules change for the same spec

DNS_PORT = 53

# Never reachable from a guest: "this" network, private ranges, shared address space
# (CGNAT), loopback, link-local (cloud metadata at 169.254.169.254), IETF protocol
# assignments, benchmarking, multicast and reserved space.
BLOCKED4 = tuple(
    IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/3",
    )
)
# Loopback, IPv4-mapped, unique-local (also the fd00:ec2::254 metadata), link-local,
# site-local and multicast.
BLOCKED6 = tuple(
    IPv6Network(n)
    for n in ("::1/128", "::ffff:0:0/96", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8")
)


@dataclass(frozen=True)
class RulesSpec:
    """The host-wide isolation policy for one bridge."""

    bridge: str
    subnet: IPv4Network
    host4: IPv4Address
    subnet6: IPv6Network | None
    host6: IPv6Address | None
    tcp_ports: tuple[int, ...]
    udp_ports: tuple[int, ...]
    blocked4: tuple[IPv4Network, ...]
    blocked6: tuple[IPv6Network, ...]
    dns_forward: tuple[IPv4Address | IPv6Address, ...] = ()
    ipv6_egress: bool = False

    def digest(self) -> str:
        """A short fingerprint of the policy, stored with the rules to make setup idempotent."""
        data = {
            "version": RULES_VERSION,
            **{
                k: str(v) if not isinstance(v, tuple) else [str(x) for x in v]
                for k, v in self.__dict__.items()
            },
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def marker(self) -> str:
        """The comment that tags Atelier's rules with the policy they implement."""
        return f"atelier:{self.digest()}"


@dataclass(frozen=True)
class PortSpec:
    """One TAP pinned to its sandbox's MAC and addresses."""

    sandbox_id: str
    tap: str
    mac: str
    ip4: IPv4Address
    ip6: IPv6Address | None
    link_local6: IPv6Address

    @property
    def chain(self) -> str:
        """The firewall chain holding this TAP's rules."""
        return names.port_chain(self.sandbox_id)

    @property
    def sources6(self) -> tuple[IPv6Address, ...]:
        """The IPv6 source addresses the guest may use."""
        return (self.ip6, self.link_local6) if self.ip6 is not None else (self.link_local6,)

    @classmethod
    def of(cls, allocation: Allocation) -> PortSpec:
        """The pinning for a bridge allocation."""
        if allocation.tap is None:
            raise ValueError(f"allocation of {allocation.sandbox_id} has no TAP")
        return cls(
            sandbox_id=allocation.sandbox_id,
            tap=allocation.tap,
            mac=allocation.mac,
            ip4=allocation.ip,
            ip6=allocation.ip6,
            link_local6=allocation.link_local6,
        )


def blocked_networks(
    host_networks: Iterable[IPv4Network | IPv6Network],
    extra: Iterable[IPv4Network | IPv6Network] = (),
) -> tuple[tuple[IPv4Network, ...], tuple[IPv6Network, ...]]:
    """The collapsed IPv4 and IPv6 networks guests may never reach.

    Collapsing merges overlaps (a host LAN inside 192.168.0.0/16), which interval sets and
    rule lists need.
    """
    v4: list[IPv4Network] = list(BLOCKED4)
    v6: list[IPv6Network] = list(BLOCKED6)
    for net in [*host_networks, *extra]:
        if isinstance(net, IPv4Network):
            v4.append(net)
        else:
            v6.append(net)
    return tuple(collapse_addresses(v4)), tuple(collapse_addresses(v6))


def host_networks_from_addresses(
    addresses: Iterable[tuple[str, int]], exclude: Iterable[IPv4Network | IPv6Network] = ()
) -> list[IPv4Network | IPv6Network]:
    """The host's own networks (and addresses) from `(address, prefix)` pairs.

    Networks overlapping an excluded one (the sandbox subnets) are skipped.
    """
    skip = list(exclude)
    found: list[IPv4Network | IPv6Network] = []
    for address, prefix in addresses:
        net = ip_network(f"{address}/{prefix}", strict=False)
        if not any(_overlaps(net, s) for s in skip):
            found.append(net)
    return found


def _overlaps(a: IPv4Network | IPv6Network, b: IPv4Network | IPv6Network) -> bool:
    if isinstance(a, IPv4Network) and isinstance(b, IPv4Network):
        return a.overlaps(b)
    if isinstance(a, IPv6Network) and isinstance(b, IPv6Network):
        return a.overlaps(b)
    return False


def rules_spec(
    *,
    bridge: str,
    subnet: IPv4Network,
    subnet6: IPv6Network | None,
    host4: IPv4Address,
    host6: IPv6Address | None,
    allowed_host_ports: Iterable[int],
    host_networks: Iterable[IPv4Network | IPv6Network],
    extra_blocked: Iterable[IPv4Network | IPv6Network] = (),
    dns_forward: Iterable[IPv4Address | IPv6Address] = (),
    ipv6_egress: bool = False,
    dns_on_host: bool = True,
) -> RulesSpec:
    """Assemble the policy: DNS (when served on the host) plus the allowed host ports."""
    tcp = set(allowed_host_ports)
    udp: set[int] = set()
    if dns_on_host:
        tcp.add(DNS_PORT)
        udp.add(DNS_PORT)
    blocked4, blocked6 = blocked_networks(host_networks, extra_blocked)
    return RulesSpec(
        bridge=bridge,
        subnet=subnet,
        host4=host4,
        subnet6=subnet6,
        host6=host6,
        tcp_ports=tuple(sorted(tcp)),
        udp_ports=tuple(sorted(udp)),
        blocked4=blocked4,
        blocked6=blocked6,
        dns_forward=tuple(sorted(set(dns_forward), key=lambda a: (a.version, int(a)))),
        ipv6_egress=ipv6_egress and subnet6 is not None,
    )
