"""The user driver: loopback forwards reserved up front, the restricted NIC, dial."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from atelier.runtime.host import names
from atelier.runtime.network.base import Allocation, Network
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.network.errors import (
    AllocationNotFound,
    GuestUnreachable,
    PortNotForwarded,
)
from atelier.runtime.network.memory import MemoryAllocationRepository
from atelier.runtime.network.user import UserNetwork, port_free
from atelier.runtime.vmm.base import GuestForward, PortForward


def user(repo: MemoryAllocationRepository | None = None, **config: object) -> UserNetwork:
    settings = NetworkConfig(guest_allowed_host_ports=[4873], **config)
    return UserNetwork(settings, repo or MemoryAllocationRepository())


async def test_service_ports_and_extra_ports_get_loopback_forwards() -> None:
    net = user(user_ports_from=41000, user_ports_to=41999)
    allocation = await net.allocate("abcdefgh", guest_ports=[5173])
    guest_ports = [f.guest_port for f in allocation.forwards]
    assert guest_ports == [22, 4096, 5173, 6080, 13337]
    assert all(f.host_addr == "127.0.0.1" and 41000 <= f.host_port <= 41999
               for f in allocation.forwards)  # fmt: skip
    assert allocation.kernel_params() == (
        "atelier.ip=10.0.2.15/24",
        "atelier.gw=10.0.2.2",
        f"atelier.mac={allocation.mac}",
    )
    assert allocation.services_host == "10.0.2.100" and allocation.tap is None


async def test_the_nic_is_restricted_with_cache_guest_forwards() -> None:
    net = user()
    allocation = await net.allocate("abcdefgh")
    nic = net.nic(allocation)
    assert nic.kind == "user" and nic.restrict and nic.tap is None
    assert nic.forwards == allocation.forwards
    assert nic.guest_forwards == (GuestForward("10.0.2.100", 4873, "127.0.0.1", 4873),)


async def test_fifty_concurrent_allocations_get_distinct_ports() -> None:
    repo = MemoryAllocationRepository()
    net = user(repo, service_ports=[22, 4096])
    ids = [names.new_id() for _ in range(50)]
    allocations = await asyncio.gather(*(net.allocate(i) for i in ids))
    ports = [f.host_port for a in allocations for f in a.forwards]
    assert len(ports) == len(set(ports)) == 100
    assert len({a.mac for a in allocations}) == 50
    assert repo.conflicts > 0


async def test_reallocation_keeps_ports_and_adds_new_ones() -> None:
    repo = MemoryAllocationRepository()
    net = user(repo)
    first = await net.allocate("abcdefgh")
    assert await net.allocate("abcdefgh") == first
    grown = await net.allocate("abcdefgh", guest_ports=[8080])
    for forward in first.forwards:
        assert grown.host_port(forward.guest_port) == forward.host_port
    assert grown.host_port(8080) is not None
    await net.release("abcdefgh")
    assert await repo.get("abcdefgh") is None


def test_busy_ports_are_not_handed_out() -> None:
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        assert not port_free(held.getsockname()[1])


@pytest.fixture
async def fake_hostfwd() -> AsyncIterator[tuple[int, list[str]]]:
    """What QEMU's hostfwd would be: a loopback listener standing in for the guest port."""
    seen: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append("connected")
        writer.write(b"SSH-2.0-guest\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()
        await server.wait_closed()


async def test_dial_goes_through_the_loopback_forward(fake_hostfwd: tuple[int, list[str]]) -> None:
    port, seen = fake_hostfwd
    repo = MemoryAllocationRepository()
    net = user(repo)
    allocation = Allocation.from_dict(
        {**(await net.allocate("abcdefgh")).to_dict(),
         "forwards": [{"host_addr": "127.0.0.1", "host_port": port, "guest_port": 22}]}
    )  # fmt: skip
    await repo.reserve(allocation)
    endpoint = await net.endpoint("abcdefgh", 22)
    assert endpoint.dial_string() == f"127.0.0.1:{port}"
    reader, writer = await net.dial("abcdefgh", 22)
    assert await reader.readline() == b"SSH-2.0-guest\r\n" and seen == ["connected"]
    writer.close()
    await writer.wait_closed()


async def test_dial_errors_say_what_is_wrong() -> None:
    repo = MemoryAllocationRepository()
    net = user(repo)
    with pytest.raises(AllocationNotFound):
        await net.dial("abcdefgh", 22)
    allocation = await net.allocate("abcdefgh")
    with pytest.raises(PortNotForwarded) as caught:
        await net.endpoint(allocation, 9999)
    assert "forwarded: [22, 4096, 6080, 13337]" in caught.value.message
    closed = Allocation.from_dict(
        {**allocation.to_dict(),
         "forwards": [{"host_addr": "127.0.0.1", "host_port": 1, "guest_port": 22}]}
    )  # fmt: skip
    with pytest.raises(GuestUnreachable):
        await net.dial(closed, 22, timeout=2)


async def test_setup_and_teardown_do_nothing_and_status_explains() -> None:
    net: Network = user()
    assert (await net.setup()).changes == ()
    assert (await net.teardown()).changes == ()
    status = await net.status()
    assert status.driver == "user" and status.healthy
    assert "restrict=on" in status.notes[0]
    assert await net.host_ports() == []
    assert PortForward(1, 2).host_addr == "127.0.0.1"
