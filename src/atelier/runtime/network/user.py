"""The `user` driver: QEMU user networking for laptops and unprivileged hosts.

Every guest gets QEMU's private LAN (10.0.2.15/24, gateway 10.0.2.2) with `restrict=on`:
it cannot open connections to the host (the gateway address would otherwise be the
host's loopback) or the outside, except to the host services explicitly forwarded with
`guestfwd` (package caches, at `network.user_services_addr`). Host services reach the
guest through `hostfwd` ports bound to 127.0.0.1 only, reserved up front in the
repository (no two sandboxes share a port) for the platform service ports and any
`guest_ports` the caller names. Nothing is created on the host by this driver; QEMU owns
the sockets. Ports cannot be added while a guest runs (no HMP `hostfwd_add` hook).
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network

from atelier.runtime.host import names
from atelier.runtime.network import addressing, allocator
from atelier.runtime.network.base import (
    Allocation,
    AllocationRepository,
    Endpoint,
    NetworkStatus,
    SetupReport,
)
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.network.dial import open_endpoint
from atelier.runtime.network.errors import AllocationNotFound, PortNotForwarded
from atelier.runtime.vmm.base import GuestForward, Nic, PortForward

QEMU_SUBNET = IPv4Network("10.0.2.0/24")
QEMU_GUEST = IPv4Address("10.0.2.15")
QEMU_GATEWAY = IPv4Address("10.0.2.2")
LOOPBACK = "127.0.0.1"


def port_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing listens on (or holds) `host:port` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


class UserNetwork:
    """Restricted QEMU user networking with loopback-only forwards."""

    name = "user"

    def __init__(
        self,
        config: NetworkConfig,
        repo: AllocationRepository,
        *,
        allowed_host_ports: Sequence[int] = (),
    ) -> None:
        self.config = config
        self.repo = repo
        self.allowed_host_ports = tuple(
            sorted({*config.guest_allowed_host_ports, *allowed_host_ports})
        )
        self._rng = random.Random()

    async def setup(self) -> SetupReport:
        """Nothing to set up on the host."""
        return SetupReport(self.name)

    async def teardown(self, *, force: bool = False) -> SetupReport:
        """Nothing to remove from the host."""
        return SetupReport(self.name)

    async def status(self) -> NetworkStatus:
        """The allocations and their loopback forwards."""
        return NetworkStatus(
            driver=self.name,
            dns="none (restricted user networking)",
            allocations=tuple(await self.allocations()),
            notes=(
                "guests use QEMU user networking with restrict=on: no outbound internet;"
                f" host ports {list(self.allowed_host_ports) or 'none'} are forwarded to"
                f" {self.config.user_services_addr}",
            ),
        )

    def _allocation(self, sandbox_id: str, forwards: tuple[PortForward, ...]) -> Allocation:
        return Allocation(
            sandbox_id=sandbox_id,
            driver=self.name,
            subnet=QEMU_SUBNET,
            ip=QEMU_GUEST,
            gateway=QEMU_GATEWAY,
            mac=addressing.user_mac(sandbox_id),
            services_host=str(self.config.user_services_addr),
            forwards=forwards,
        )

    async def allocate(self, sandbox_id: str, *, guest_ports: Sequence[int] = ()) -> Allocation:
        """Reserve one loopback port per forwarded guest port (kept across restarts)."""
        names.tap_name(sandbox_id)  # validates the id
        wanted = sorted({*self.config.service_ports, *guest_ports})
        existing = await self.repo.get(sandbox_id)
        kept: dict[int, int] = {}
        if existing is not None and existing.driver == self.name:
            kept = {f.guest_port: f.host_port for f in existing.forwards}
            if sorted(kept) == wanted and existing == self._allocation(
                sandbox_id, existing.forwards
            ):
                return existing

        def build(others: list[Allocation], attempt: int) -> Allocation:
            taken = {f.host_port for a in others for f in a.forwards}
            mapping = {g: h for g, h in kept.items() if g in wanted and h not in taken}
            missing = [g for g in wanted if g not in mapping]
            fresh = allocator.pick_ports(
                self.config.user_ports_from,
                self.config.user_ports_to,
                len(missing),
                taken | set(mapping.values()),
                attempt=attempt,
                rng=self._rng,
                usable=port_free,
            )
            mapping.update(zip(missing, fresh, strict=True))
            forwards = tuple(
                PortForward(host_port=mapping[g], guest_port=g, host_addr=LOOPBACK) for g in wanted
            )
            return self._allocation(sandbox_id, forwards)

        return await allocator.reserve(self.repo, sandbox_id, build)

    async def release(self, sandbox_id: str) -> None:
        """Forget the allocation (QEMU closes its forwards when it exits)."""
        await self.repo.delete(sandbox_id)

    async def allocations(self) -> list[Allocation]:
        """This driver's allocations."""
        return [a for a in await self.repo.list_all() if a.driver == self.name]

    async def host_ports(self) -> list[str]:
        """No host objects exist for user networking."""
        return []

    def nic(self, allocation: Allocation) -> Nic:
        """Restricted user networking: loopback hostfwds in, cache guestfwds out."""
        services = str(self.config.user_services_addr)
        return Nic(
            kind="user",
            mac=allocation.mac,
            forwards=allocation.forwards,
            guest_forwards=tuple(
                GuestForward(
                    guest_addr=services, guest_port=port, host_addr=LOOPBACK, host_port=port
                )
                for port in self.allowed_host_ports
            ),
            restrict=True,
        )

    async def _resolve(self, target: Allocation | str) -> Allocation:
        if isinstance(target, Allocation):
            return target
        found = await self.repo.get(target)
        if found is None:
            raise AllocationNotFound(
                f"sandbox {target} has no network allocation", hint="start the sandbox first"
            )
        return found

    async def endpoint(self, target: Allocation | str, port: int) -> Endpoint:
        """The loopback port forwarded to the guest port."""
        allocation = await self._resolve(target)
        host_port = allocation.host_port(port)
        if host_port is None:
            forwarded = sorted(f.guest_port for f in allocation.forwards)
            raise PortNotForwarded(
                f"guest port {port} of sandbox {allocation.sandbox_id} is not forwarded"
                f" (forwarded: {forwarded})",
                hint="add it to network.service_ports, or pass it to allocate(guest_ports=…)"
                " before the sandbox starts",
                field="port",
            )
        return Endpoint("tcp", host=LOOPBACK, port=host_port)

    async def dial(
        self, target: Allocation | str, port: int, *, timeout: float = 5.0
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP stream to the guest port through its loopback forward."""
        allocation = await self._resolve(target)
        endpoint = await self.endpoint(allocation, port)
        what = f"port {port} of sandbox {allocation.sandbox_id}"
        return await open_endpoint(endpoint, timeout=timeout, what=what)
