"""Addresses and MACs derived from subnets and host indices."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest

from atelier.runtime.network import addressing

SUBNET = IPv4Network("172.16.0.0/24")


def test_host_takes_the_first_address_and_guests_the_rest() -> None:
    assert addressing.host_address(SUBNET) == IPv4Address("172.16.0.1")
    assert addressing.host_address6(IPv6Network("fd00:a7e1::/64")) == IPv6Address("fd00:a7e1::1")
    indices = addressing.guest_indices(SUBNET)
    assert (indices[0], indices[-1], len(indices)) == (2, 254, 253)
    assert addressing.guest_ip(SUBNET, 2) == IPv4Address("172.16.0.2")
    assert addressing.guest_ip6(IPv6Network("fd00:a7e1::/64"), 2) == IPv6Address("fd00:a7e1::2")


@pytest.mark.parametrize("index", [0, 1, 255, 256])
def test_non_guest_indices_are_refused(index: int) -> None:
    with pytest.raises(ValueError, match="not a guest address index"):
        addressing.guest_ip(SUBNET, index)


def test_index_of_round_trips_and_rejects_foreign_addresses() -> None:
    assert addressing.index_of(SUBNET, IPv4Address("172.16.0.77")) == 77
    assert addressing.index_of(SUBNET, IPv4Address("10.0.0.77")) is None


def test_guest_mac_is_locally_administered_and_follows_the_ip() -> None:
    mac = addressing.guest_mac(IPv4Address("172.16.0.2"))
    assert mac == "02:a7:ac:10:00:02"
    first = int(mac[:2], 16)
    assert first & 0x02 and not first & 0x01  # locally administered, unicast


def test_bridge_and_user_macs_are_stable_and_distinct_from_guest_macs() -> None:
    assert addressing.bridge_mac("atl-br0") == addressing.bridge_mac("atl-br0")
    assert addressing.bridge_mac("atl-br0").startswith("02:a6:")
    assert addressing.user_mac("abcdefgh").startswith("02:a8:")
    assert addressing.user_mac("abcdefgh") != addressing.user_mac("bcdefgha")


def test_link_local_is_the_kernels_eui64() -> None:
    assert addressing.link_local("02:a7:ac:10:00:02") == IPv6Address("fe80::a7:acff:fe10:2")
    assert addressing.link_local("52:54:00:12:34:56") == IPv6Address("fe80::5054:ff:fe12:3456")
    with pytest.raises(ValueError):
        addressing.link_local("02:a7")
