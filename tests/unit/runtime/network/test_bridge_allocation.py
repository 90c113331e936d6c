"""Bridge allocations from the repository: uniqueness under concurrency, conflicts, re-derivation.

`BridgeNetwork.reserve` is the repository half of `allocate` and needs no root.
"""

from __future__ import annotations

import asyncio
import random
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

import pytest

from atelier.runtime.host import names
from atelier.runtime.network import allocator
from atelier.runtime.network.base import Allocation
from atelier.runtime.network.bridge import BridgeNetwork
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.network.errors import AddressPoolExhausted, AllocationConflict, NetworkError
from atelier.runtime.network.memory import MemoryAllocationRepository


def bridge(repo: MemoryAllocationRepository, tmp_path: Path, **config: object) -> BridgeNetwork:
    return BridgeNetwork(NetworkConfig(**config), repo, state_dir=tmp_path)


async def test_fifty_concurrent_allocations_are_distinct(tmp_path: Path) -> None:
    repo = MemoryAllocationRepository()
    net = bridge(repo, tmp_path)
    ids = [names.new_id() for _ in range(50)]
    allocations = await asyncio.gather(*(net.reserve(i) for i in ids))
    for field in ("ip", "mac", "tap", "ip6"):
        assert len({getattr(a, field) for a in allocations}) == 50, field
    assert {a.sandbox_id for a in await repo.list_all()} == set(ids)
    assert repo.conflicts > 0  # the races happened and were retried
    assert all(a.ip in net.subnet and a.ip != net.host4 for a in allocations)


async def test_allocation_fields_follow_the_config(tmp_path: Path) -> None:
    net = bridge(MemoryAllocationRepository(), tmp_path)
    allocation = await net.reserve("abcdefgh")
    assert allocation == Allocation(
        sandbox_id="abcdefgh",
        driver="bridge",
        subnet=IPv4Network("172.16.0.0/24"),
        ip=IPv4Address("172.16.0.2"),
        gateway=IPv4Address("172.16.0.1"),
        mac="02:a7:ac:10:00:02",
        tap="atl-abcdefgh",
        subnet6=IPv6Network("fd00:a7e1::/64"),
        ip6=IPv6Address("fd00:a7e1::2"),
        gateway6=None,  # no IPv6 egress by default
        dns=(IPv4Address("172.16.0.1"),),
        services_host="172.16.0.1",
    )
    assert net.nic(allocation).kind == "tap" and net.nic(allocation).tap == "atl-abcdefgh"


async def test_reserving_again_returns_the_same_allocation(tmp_path: Path) -> None:
    net = bridge(MemoryAllocationRepository(), tmp_path)
    first = await net.reserve("abcdefgh")
    await net.reserve("bcdefghi")
    assert await net.reserve("abcdefgh") == first


async def test_a_subnet_change_rederives_address_gateway_mac_and_dns(tmp_path: Path) -> None:
    repo = MemoryAllocationRepository()
    old = await bridge(repo, tmp_path).reserve("abcdefgh")
    await bridge(repo, tmp_path).reserve("bcdefghi")
    moved = bridge(repo, tmp_path, subnet="10.99.0.0/16", subnet6="fd00:beef::/64")
    new = await moved.reserve("abcdefgh")
    assert new.subnet == IPv4Network("10.99.0.0/16") and new.prefix == 16
    assert (new.ip, new.gateway) == (IPv4Address("10.99.0.2"), IPv4Address("10.99.0.1"))
    assert new.mac == "02:a7:0a:63:00:02" and new.mac != old.mac
    assert new.dns == (IPv4Address("10.99.0.1"),)
    assert new.ip6 == IPv6Address("fd00:beef::2")
    assert "atelier.gw=10.99.0.1" in new.kernel_params()
    assert await repo.get("abcdefgh") == new


async def test_a_subnet_change_keeps_the_host_index_when_it_fits(tmp_path: Path) -> None:
    repo = MemoryAllocationRepository()
    for sandbox in ("aaaaaaaa", "bbbbbbbb", "cccccccc"):
        await bridge(repo, tmp_path).reserve(sandbox)
    await repo.delete("aaaaaaaa")
    new = await bridge(repo, tmp_path, subnet="10.1.0.0/24").reserve("cccccccc")
    assert new.ip == IPv4Address("10.1.0.4")  # index 4, as in 172.16.0.4


async def test_ipv6_egress_gives_guests_an_ipv6_gateway(tmp_path: Path) -> None:
    net = bridge(MemoryAllocationRepository(), tmp_path, ipv6_egress=True)
    allocation = await net.reserve("abcdefgh")
    assert allocation.gateway6 == IPv6Address("fd00:a7e1::1")
    no_v6 = bridge(MemoryAllocationRepository(), tmp_path, subnet6=None)
    assert (await no_v6.reserve("abcdefgh")).ip6 is None


async def test_the_pool_runs_out_with_a_clear_error(tmp_path: Path) -> None:
    net = bridge(MemoryAllocationRepository(), tmp_path, subnet="172.16.0.0/29")
    for index in range(5):  # .2 … .6
        await net.reserve(f"aaaaaaa{'abcde'[index]}")
    with pytest.raises(AddressPoolExhausted) as caught:
        await net.reserve("bbbbbbbb")
    assert caught.value.field == "network.subnet" and caught.value.status == 429


async def test_repository_conflicts_are_retried_with_another_address(tmp_path: Path) -> None:
    class Racing(MemoryAllocationRepository):
        """Another manager grabs the first address this allocator picks."""

        async def reserve(self, allocation: Allocation) -> None:
            if allocation.ip == IPv4Address("172.16.0.2") and allocation.sandbox_id != "zzzzzzzz":
                taken = bridge(self, tmp_path).derive("zzzzzzzz", 2)
                await super().reserve(taken)
            await super().reserve(allocation)

    repo = Racing()
    allocation = await bridge(repo, tmp_path).reserve("abcdefgh")
    assert allocation.ip != IPv4Address("172.16.0.2") and repo.conflicts == 1


async def test_endless_conflicts_end_in_an_error(tmp_path: Path) -> None:
    class NeverAgrees(MemoryAllocationRepository):
        async def reserve(self, allocation: Allocation) -> None:
            raise AllocationConflict(f"ip4:{allocation.ip}")

    with pytest.raises(NetworkError, match="attempts conflicted"):
        await bridge(NeverAgrees(), tmp_path).reserve("abcdefgh")


def test_pick_index_prefers_then_lowest_then_random() -> None:
    subnet = IPv4Network("172.16.0.0/24")
    rng = random.Random(1)
    assert allocator.pick_index(subnet, {2, 3}, preferred=9, attempt=0, rng=rng) == 9
    assert allocator.pick_index(subnet, {2, 3}, preferred=3, attempt=0, rng=rng) == 4
    assert allocator.pick_index(subnet, {2, 3}, preferred=None, attempt=3, rng=rng) not in {2, 3}


def test_pick_ports_skips_taken_and_unusable_ports() -> None:
    rng = random.Random(1)
    chosen = allocator.pick_ports(20000, 20010, 3, {20000}, attempt=0, rng=rng,
                                  usable=lambda p: p != 20001)  # fmt: skip
    assert chosen == [20002, 20003, 20004]
    with pytest.raises(AddressPoolExhausted):
        allocator.pick_ports(20000, 20001, 3, set(), attempt=0, rng=rng)
