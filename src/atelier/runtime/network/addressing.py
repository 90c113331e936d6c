"""Pure address arithmetic: host and guest addresses, MACs and link-local addresses.

Everything here is derived from the configured subnets and a guest's host index, never
stored on its own, so a changed subnet re-derives every field. The bridge takes the first
host address of each subnet (`.1`, `::1`); guests take indices 2 and up, the same index in
the IPv4 and the IPv6 subnet.
"""

from __future__ import annotations

import hashlib
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

HOST_INDEX = 1
FIRST_GUEST_INDEX = 2

# Locally administered unicast prefixes (bit 0x02 of the first octet set, 0x01 clear), one
# per kind of interface so a guest MAC can never equal the bridge's.
GUEST_MAC_PREFIX = (0x02, 0xA7)
BRIDGE_MAC_PREFIX = (0x02, 0xA6)
USER_MAC_PREFIX = (0x02, 0xA8)


def host_address(subnet: IPv4Network) -> IPv4Address:
    """The bridge's (gateway's) address: the first host address of the subnet."""
    return subnet.network_address + HOST_INDEX


def host_address6(subnet6: IPv6Network) -> IPv6Address:
    """The bridge's IPv6 address: `<prefix>::1`."""
    return subnet6.network_address + HOST_INDEX


def guest_indices(subnet: IPv4Network) -> range:
    """Host indices guests may take: all but the network, the bridge and the broadcast."""
    return range(FIRST_GUEST_INDEX, subnet.num_addresses - 1)


def guest_ip(subnet: IPv4Network, index: int) -> IPv4Address:
    """The guest address at `index`; ValueError when it is not a guest index of `subnet`."""
    if index not in guest_indices(subnet):
        raise ValueError(f"index {index} is not a guest address index of {subnet}")
    return subnet.network_address + index


def guest_ip6(subnet6: IPv6Network, index: int) -> IPv6Address:
    """The guest IPv6 address at the same index as its IPv4 address."""
    if not 0 < index < subnet6.num_addresses:
        raise ValueError(f"index {index} does not fit in {subnet6}")
    return subnet6.network_address + index


def index_of(subnet: IPv4Network, ip: IPv4Address) -> int | None:
    """The host index of `ip` in `subnet`, or None when it lies outside."""
    if ip not in subnet:
        return None
    return int(ip) - int(subnet.network_address)


def _mac(prefix: tuple[int, int], tail: bytes) -> str:
    return ":".join(f"{b:02x}" for b in (*prefix, *tail[:4]))


def guest_mac(ip: IPv4Address) -> str:
    """A guest's MAC, derived from its IPv4 address: `02:a7:` + the four address octets."""
    return _mac(GUEST_MAC_PREFIX, ip.packed)


def bridge_mac(bridge: str) -> str:
    """A fixed MAC for the bridge, so it does not change as TAPs come and go."""
    return _mac(BRIDGE_MAC_PREFIX, hashlib.sha256(bridge.encode()).digest())


def user_mac(sandbox_id: str) -> str:
    """The MAC of a user-networking guest (each QEMU has a private LAN, so any is fine)."""
    return _mac(USER_MAC_PREFIX, hashlib.sha256(sandbox_id.encode()).digest())


def link_local(mac: str) -> IPv6Address:
    """The EUI-64 link-local address the guest kernel derives from `mac` by default."""
    octets = [int(part, 16) for part in mac.split(":")]
    if len(octets) != 6:
        raise ValueError(f"{mac!r} is not a MAC address")
    eui = [octets[0] ^ 0x02, *octets[1:3], 0xFF, 0xFE, *octets[3:]]
    return IPv6Address(bytes([0xFE, 0x80, 0, 0, 0, 0, 0, 0, *eui]))
