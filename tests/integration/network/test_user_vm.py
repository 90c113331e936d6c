"""The user driver with a real QEMU guest: restricted, loopback-only forwards, dial.

The guest may reach the host only through the guest forwards of the allowed ports; a
service on the host's 127.0.0.1 that is not forwarded stays out of reach (QEMU would
otherwise expose the host's loopback at the gateway address 10.0.2.2). Everything here is
loopback traffic on the host; `restrict=on` keeps QEMU from opening outside connections.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from atelier.runtime.host import names
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.network.memory import MemoryAllocationRepository
from atelier.runtime.network.user import UserNetwork
from tests.integration.network.conftest import PROBE
from tests.vmkit import BootedVm, booted_vm, host_config

pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.timeout(300)]

GUEST_PORT = 2200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def loopback_service() -> AsyncIterator[Callable[[str], int]]:
    """Start TCP services on 127.0.0.1 that answer "<tag> <peer>"; returns their port."""
    servers: list[asyncio.Server] = []

    async def start(tag: str) -> int:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(f"{tag} {writer.get_extra_info('peername')[0]}\n".encode())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", free_port())
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    ports: dict[str, int] = {}

    def port(tag: str) -> int:
        return ports[tag]

    for tag in ("cache", "private"):
        ports[tag] = await start(tag)
    try:
        yield port
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


async def guest_connect(vm: BootedVm, host: str, port: int) -> tuple[int | None, str]:
    done = await vm.client.exec(["python3", "/root/netprobe.py", "connect", host, str(port), "3"])
    return done.exit_code, done.stdout.decode().strip()


async def test_user_guest_reaches_only_forwarded_host_services(
    loopback_service: Callable[[str], int], artifacts_dir: Path
) -> None:
    cache, private = loopback_service("cache"), loopback_service("private")
    config = NetworkConfig(guest_allowed_host_ports=[cache], service_ports=[GUEST_PORT])
    net = UserNetwork(config, MemoryAllocationRepository())
    allocation = await net.allocate(names.new_id())
    nic = net.nic(allocation)
    async with booted_vm(
        host_config(), nics=(nic,), cmdline=allocation.kernel_params(), artifacts=artifacts_dir
    ) as vm:
        await vm.client.write_file("/root/netprobe.py", PROBE.read_bytes())
        services = str(config.user_services_addr)
        assert await guest_connect(vm, services, cache) == (0, "cache 127.0.0.1")
        # The host's loopback behind the gateway address: not forwarded, not reachable.
        for port in (private, cache):
            code, text = await guest_connect(vm, "10.0.2.2", port)
            assert code != 0, f"the guest reached 127.0.0.1:{port}: {text}"
        await vm.client.exec(
            ["sh", "-c", f"python3 /root/netprobe.py serve 0.0.0.0 {GUEST_PORT} guest"
             " >/dev/null 2>&1 &"],
            keep_background=True,
        )  # fmt: skip
        endpoint = await net.endpoint(allocation, GUEST_PORT)
        assert endpoint.host == "127.0.0.1"
        for _ in range(50):  # the guest server needs a moment under TCG
            try:
                reader, writer = await net.dial(allocation, GUEST_PORT, timeout=2)
                line = await asyncio.wait_for(reader.readline(), 5)
                writer.close()
            except Exception:  # not listening yet: hostfwd accepts, then resets
                line = b""
            if line:
                break
            await asyncio.sleep(0.2)
        assert line.startswith(b"guest 10.0.2.2"), line


async def test_guest_forwards_serve_repeated_connections(
    loopback_service: Callable[[str], int], artifacts_dir: Path
) -> None:
    cache = loopback_service("cache")
    config = NetworkConfig(guest_allowed_host_ports=[cache], service_ports=[GUEST_PORT])
    net = UserNetwork(config, MemoryAllocationRepository())
    allocation = await net.allocate(names.new_id())
    async with booted_vm(
        host_config(), nics=(net.nic(allocation),), cmdline=allocation.kernel_params(),
        artifacts=artifacts_dir,
    ) as vm:  # fmt: skip
        await vm.client.write_file("/root/netprobe.py", PROBE.read_bytes())
        services = str(config.user_services_addr)
        results = [await guest_connect(vm, services, cache) for _ in range(3)]
        assert results == [(0, "cache 127.0.0.1")] * 3
