"""The Network Protocol every driver (bridge, user) implements, and the data it exchanges.

A driver sets up the host side once (`setup`), gives each sandbox an `Allocation` (address,
MAC, TAP, DNS) reserved through an injected `AllocationRepository` (the database in the
manager; there is no second store of truth), tells the VMM how to attach the guest (`nic`),
and is the one way host services reach a guest port (`endpoint` for proxies that need a dial
string, `dial` for in-process Python). Drivers never boot VMs or talk to the guest agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from atelier.runtime.network.addressing import link_local
from atelier.runtime.vmm.base import Nic, PortForward

IPAddress = IPv4Address | IPv6Address


@dataclass(frozen=True)
class Allocation:
    """A sandbox's network identity, made in the subnet it records.

    `gateway6` is set only when guests route IPv6 through the host (`ipv6_egress`);
    otherwise IPv6 reaches the host only. `services_host` is the address at which the guest
    reaches the host services forwarded to it (package caches): the bridge address, or the
    user driver's guest-forward address. `forwards` are the user driver's loopback ports.
    """

    sandbox_id: str
    driver: str
    subnet: IPv4Network
    ip: IPv4Address
    gateway: IPv4Address
    mac: str
    tap: str | None = None
    subnet6: IPv6Network | None = None
    ip6: IPv6Address | None = None
    gateway6: IPv6Address | None = None
    dns: tuple[IPAddress, ...] = ()
    services_host: str = ""
    forwards: tuple[PortForward, ...] = ()

    @property
    def prefix(self) -> int:
        """The IPv4 prefix length."""
        return self.subnet.prefixlen

    @property
    def link_local6(self) -> IPv6Address:
        """The EUI-64 link-local address the guest kernel derives from the MAC."""
        return link_local(self.mac)

    def kernel_params(self) -> tuple[str, ...]:
        """The guest init's network parameters (`atelier.ip=…` and friends)."""
        params = [
            f"atelier.ip={self.ip}/{self.prefix}",
            f"atelier.gw={self.gateway}",
            f"atelier.mac={self.mac}",
        ]
        if self.dns:
            params.append("atelier.dns=" + ",".join(str(a) for a in self.dns))
        if self.ip6 is not None and self.subnet6 is not None:
            params.append(f"atelier.ip6={self.ip6}/{self.subnet6.prefixlen}")
        if self.gateway6 is not None:
            params.append(f"atelier.gw6={self.gateway6}")
        return tuple(params)

    def agent_config(self) -> dict[str, Any]:
        """The same settings for the agent's `network.configure` op."""
        return {
            "mac": self.mac,
            "ip": f"{self.ip}/{self.prefix}",
            "gateway": str(self.gateway),
            "dns": [str(a) for a in self.dns],
            "ip6": f"{self.ip6}/{self.subnet6.prefixlen}" if self.ip6 and self.subnet6 else None,
            "gateway6": str(self.gateway6) if self.gateway6 else None,
        }

    def claims(self) -> tuple[str, ...]:
        """The host-wide unique resources this allocation holds, as repository keys.

        A repository must refuse (AllocationConflict) an allocation one of whose claims
        another sandbox already holds. Claims are namespaced by kind: `ip4:`, `ip6:`,
        `mac:`, `tap:` (bridge) and `port:` (user driver loopback ports).
        """
        if self.driver == "user":
            return tuple(f"port:{f.host_addr}:{f.host_port}" for f in self.forwards)
        claims = [f"ip4:{self.ip}", f"mac:{self.mac}"]
        if self.tap:
            claims.append(f"tap:{self.tap}")
        if self.ip6 is not None:
            claims.append(f"ip6:{self.ip6}")
        return tuple(claims)

    def host_port(self, guest_port: int) -> int | None:
        """The loopback port forwarded to `guest_port` (user driver), if any."""
        for forward in self.forwards:
            if forward.guest_port == guest_port:
                return forward.host_port
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, for the database and `--json` output."""
        return {
            "sandbox_id": self.sandbox_id,
            "driver": self.driver,
            "subnet": str(self.subnet),
            "ip": str(self.ip),
            "gateway": str(self.gateway),
            "mac": self.mac,
            "tap": self.tap,
            "subnet6": str(self.subnet6) if self.subnet6 else None,
            "ip6": str(self.ip6) if self.ip6 else None,
            "gateway6": str(self.gateway6) if self.gateway6 else None,
            "dns": [str(a) for a in self.dns],
            "services_host": self.services_host,
            "forwards": [
                {"host_addr": f.host_addr, "host_port": f.host_port, "guest_port": f.guest_port}
                for f in self.forwards
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Allocation:
        """Inverse of `to_dict`."""
        return cls(
            sandbox_id=data["sandbox_id"],
            driver=data["driver"],
            subnet=IPv4Network(data["subnet"]),
            ip=IPv4Address(data["ip"]),
            gateway=IPv4Address(data["gateway"]),
            mac=data["mac"],
            tap=data.get("tap"),
            subnet6=IPv6Network(data["subnet6"]) if data.get("subnet6") else None,
            ip6=IPv6Address(data["ip6"]) if data.get("ip6") else None,
            gateway6=IPv6Address(data["gateway6"]) if data.get("gateway6") else None,
            dns=tuple(ip_address(a) for a in data.get("dns", ())),
            services_host=data.get("services_host", ""),
            forwards=tuple(
                PortForward(
                    host_port=f["host_port"], guest_port=f["guest_port"], host_addr=f["host_addr"]
                )
                for f in data.get("forwards", ())
            ),
        )


@dataclass(frozen=True)
class Endpoint:
    """Where a host service connects to reach one guest port.

    `tcp`: connect to `host:port` (the guest's address on the bridge, or a loopback port
    forwarded to it). `unix`: connect to the Unix socket at `path` (a forwarder into a
    network namespace).
    """

    kind: Literal["tcp", "unix"]
    host: str | None = None
    port: int | None = None
    path: Path | None = None

    def dial_string(self) -> str:
        """The address in Caddy's `dial` syntax: `host:port`, `[v6]:port` or `unix//path`."""
        if self.kind == "unix":
            return f"unix/{self.path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "kind": self.kind,
            "host": self.host,
            "port": self.port,
            "path": str(self.path) if self.path else None,
            "dial": self.dial_string(),
        }


@dataclass(frozen=True)
class SetupReport:
    """What `setup` or `teardown` changed on the host; empty `changes` means nothing."""

    driver: str
    changes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {"driver": self.driver, "changed": bool(self.changes), "changes": list(self.changes)}


@dataclass(frozen=True)
class PortStatus:
    """A sandbox TAP found on the host, with the protections it has."""

    name: str
    sandbox_id: str | None
    up: bool
    on_bridge: bool
    isolated: bool
    pinned: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class NetworkStatus:
    """What the host side looks like now, compared with what the config wants.

    `problems` lists every difference in words; an empty tuple means healthy.
    """

    driver: str
    bridge: str | None = None
    bridge_exists: bool = False
    bridge_up: bool = False
    addresses: tuple[str, ...] = ()
    firewall: str | None = None
    rules: tuple[str, ...] = ()
    forwarding: bool | None = None
    dns: str = ""
    dns_pid: int | None = None
    ports: tuple[PortStatus, ...] = ()
    allocations: tuple[Allocation, ...] = ()
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        """True when nothing differs from the desired state."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "driver": self.driver,
            "healthy": self.healthy,
            "bridge": self.bridge,
            "bridge_exists": self.bridge_exists,
            "bridge_up": self.bridge_up,
            "addresses": list(self.addresses),
            "firewall": self.firewall,
            "rules": list(self.rules),
            "forwarding": self.forwarding,
            "dns": self.dns,
            "dns_pid": self.dns_pid,
            "ports": [p.to_dict() for p in self.ports],
            "allocations": [a.to_dict() for a in self.allocations],
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


@runtime_checkable
class AllocationRepository(Protocol):
    """Where allocations are persisted; the manager backs it with the database.

    Uniqueness lives in the store: `reserve` is atomic and refuses an allocation whose
    `claims()` are held by another sandbox, the way a unique index refuses a row.
    """

    async def list_all(self) -> list[Allocation]:
        """Every stored allocation, of any driver."""
        ...

    async def get(self, sandbox_id: str) -> Allocation | None:
        """The sandbox's allocation, or None."""
        ...

    async def reserve(self, allocation: Allocation) -> None:
        """Store `allocation` as its sandbox's only allocation, replacing an older one.

        Atomic: either every claim is taken and the allocation stored, or nothing changes.
        Raises AllocationConflict when another sandbox holds one of its claims.
        """
        ...

    async def delete(self, sandbox_id: str) -> None:
        """Forget the sandbox's allocation and claims; no error when there is none."""
        ...


@runtime_checkable
class Network(Protocol):
    """A network driver: host setup, per-sandbox interfaces, and the way to reach guests."""

    name: str

    async def setup(self) -> SetupReport:
        """Create or repair the host side (bridge, rules, resolver); idempotent.

        A second run with the same config changes nothing and reports no changes.
        Raises DriverUnavailable (not root, tool missing) or NetworkError.
        """
        ...

    async def teardown(self, *, force: bool = False) -> SetupReport:
        """Remove exactly what `setup` and `allocate` created on the host.

        Raises NetworkInUse when sandbox TAPs are attached and `force` is not set.
        """
        ...

    async def status(self) -> NetworkStatus:
        """The host side as it is, with the differences from the config as problems."""
        ...

    async def allocate(self, sandbox_id: str, *, guest_ports: Sequence[int] = ()) -> Allocation:
        """Reserve the sandbox's address and create its host side (TAP, rules).

        Idempotent: for a sandbox that has an allocation in the current subnet, the same
        allocation is returned and its host side repaired; one made in another subnet is
        re-derived. `guest_ports` are extra guest ports the user driver forwards.
        Raises AddressPoolExhausted, NetworkNotReady or NetworkError; on error nothing
        of the allocation is left behind.
        """
        ...

    async def release(self, sandbox_id: str) -> None:
        """Remove the sandbox's host side (TAP, rules, forwarders) and its allocation.

        Idempotent: releasing an unknown sandbox is not an error.
        """
        ...

    async def allocations(self) -> list[Allocation]:
        """The allocations of this driver, from the repository."""
        ...

    async def host_ports(self) -> list[str]:
        """Sandbox ids whose host objects (TAPs, port rules) exist, for reconcile."""
        ...

    def nic(self, allocation: Allocation) -> Nic:
        """How the VMM attaches the guest: a TAP, or restricted user networking."""
        ...

    async def endpoint(self, target: Allocation | str, port: int) -> Endpoint:
        """Where a host service connects to reach guest `port` (Caddy needs a dial string).

        Raises AllocationNotFound, PortNotForwarded (user driver) or NetworkError.
        """
        ...

    async def dial(
        self, target: Allocation | str, port: int, *, timeout: float = 5.0
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a TCP stream to guest `port`, from wherever the caller runs.

        Raises AllocationNotFound, PortNotForwarded or GuestUnreachable.
        """
        ...
