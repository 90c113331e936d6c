"""An in-memory Network driver for spawn, rollback, proxy and SSH-gateway tests.

`FakeNetwork` allocates bridge-style addresses through a real `AllocationRepository`
(uniqueness and conflicts behave as in production) but creates nothing on the host. Its
`nic()` is a TAP NIC, and `endpoint()`/`dial()` go to the loopback port a test registered
with `expose(sandbox_id, guest_port, host_port)`, so a test server can play a guest
service. Set `fail["allocate"]` (or another method name) to an error to inject it once.
`calls` records (method, sandbox id) in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from ipaddress import IPv4Network
from pathlib import Path

from atelier.errors import AtelierError
from atelier.runtime.network import (
    Allocation,
    AllocationNotFound,
    AllocationRepository,
    BridgeNetwork,
    Endpoint,
    GuestUnreachable,
    MemoryAllocationRepository,
    NetworkStatus,
    SetupReport,
)
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.vmm.base import Nic


class FakeNetwork:
    """A Network that reserves addresses but touches no host object."""

    name = "fake"

    def __init__(
        self,
        repo: AllocationRepository | None = None,
        subnet: str = "172.16.0.0/24",
    ) -> None:
        self.repo = repo if repo is not None else MemoryAllocationRepository()
        config = NetworkConfig(subnet=IPv4Network(subnet))
        # BridgeNetwork.reserve needs no root and runs no command: reuse its derivation.
        self._bridge = BridgeNetwork(config, self.repo, state_dir=Path("/nonexistent"))
        self.exposed: dict[tuple[str, int], int] = {}
        self.fail: dict[str, AtelierError] = {}
        self.calls: list[tuple[str, str]] = []
        self.attached: set[str] = set()

    def _step(self, method: str, sandbox_id: str = "") -> None:
        self.calls.append((method, sandbox_id))
        error = self.fail.pop(method, None)
        if error is not None:
            raise error

    def expose(self, sandbox_id: str, guest_port: int, host_port: int) -> None:
        """Route `endpoint`/`dial` of a guest port to a loopback port."""
        self.exposed[(sandbox_id, guest_port)] = host_port

    async def setup(self) -> SetupReport:
        self._step("setup")
        return SetupReport(self.name)

    async def teardown(self, *, force: bool = False) -> SetupReport:
        self._step("teardown")
        return SetupReport(self.name)

    async def status(self) -> NetworkStatus:
        self._step("status")
        return NetworkStatus(driver=self.name, allocations=tuple(await self.allocations()))

    async def allocate(self, sandbox_id: str, *, guest_ports: Sequence[int] = ()) -> Allocation:
        self._step("allocate", sandbox_id)
        allocation = await self._bridge.reserve(sandbox_id)
        self.attached.add(sandbox_id)
        return allocation

    async def release(self, sandbox_id: str) -> None:
        self._step("release", sandbox_id)
        self.attached.discard(sandbox_id)
        await self.repo.delete(sandbox_id)

    async def allocations(self) -> list[Allocation]:
        return [a for a in await self.repo.list_all() if a.driver == "bridge"]

    async def host_ports(self) -> list[str]:
        return sorted(self.attached)

    def nic(self, allocation: Allocation) -> Nic:
        return Nic(kind="tap", mac=allocation.mac, tap=allocation.tap)

    async def _resolve(self, target: Allocation | str) -> Allocation:
        if isinstance(target, Allocation):
            return target
        found = await self.repo.get(target)
        if found is None:
            raise AllocationNotFound(f"sandbox {target} has no network allocation")
        return found

    async def endpoint(self, target: Allocation | str, port: int) -> Endpoint:
        allocation = await self._resolve(target)
        self._step("endpoint", allocation.sandbox_id)
        host_port = self.exposed.get((allocation.sandbox_id, port))
        if host_port is None:
            return Endpoint("tcp", host=str(allocation.ip), port=port)
        return Endpoint("tcp", host="127.0.0.1", port=host_port)

    async def dial(
        self, target: Allocation | str, port: int, *, timeout: float = 5.0
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        endpoint = await self.endpoint(target, port)
        if endpoint.host != "127.0.0.1":
            raise GuestUnreachable(f"fake network: guest port {port} is not exposed")
        return await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port), timeout
        )
