"""The `bridge` driver: one TAP per sandbox on an Atelier bridge, NAT out, isolation rules.

Host side: the bridge (fixed MAC, the subnet's first address, IPv6 `::1` without DAD),
IPv4 forwarding, the firewall policy (`firewall.py`), and the guest resolver (`dns.py`).
Per sandbox: an address from the repository, a TAP (isolated port, no learning or unknown
unicast flooding, a static FDB entry), the TAP's pinning chain and permanent neighbour
entries. Everything can run inside a network namespace (`netns`) for tests; the state
directory then also holds the socat forwarders that make `dial()` work from outside.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from ipaddress import IPv4Interface, IPv4Network, IPv6Interface, IPv6Network
from pathlib import Path

from atelier.runtime.host import detect, names, proc
from atelier.runtime.network import addressing, allocator, dns, link
from atelier.runtime.network._bridge_status import bridge_status
from atelier.runtime.network.base import (
    Allocation,
    AllocationRepository,
    Endpoint,
    NetworkStatus,
    SetupReport,
)
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.network.dial import NetnsForwarders, open_endpoint
from atelier.runtime.network.errors import (
    AllocationNotFound,
    DriverUnavailable,
    NetworkError,
    NetworkInUse,
    NetworkNotReady,
)
from atelier.runtime.network.firewall import Firewall, IptablesFirewall, NftFirewall
from atelier.runtime.network.policy import (
    PortSpec,
    RulesSpec,
    host_networks_from_addresses,
    rules_spec,
)
from atelier.runtime.network.runner import Runner
from atelier.runtime.network.sysctls import Sysctls
from atelier.runtime.vmm.base import Nic


class BridgeNetwork:
    """Sandboxes on TAPs behind an Atelier bridge with NAT and isolation rules."""

    name = "bridge"

    def __init__(
        self,
        config: NetworkConfig,
        repo: AllocationRepository,
        *,
        state_dir: Path,
        allowed_host_ports: Sequence[int] = (),
        netns: str | None = None,
        tap_owner: int | None = None,
        resolv_conf: Path = dns.RESOLV_CONF,
    ) -> None:
        self.config = config
        self.repo = repo
        self.netns = netns
        self.state_dir = state_dir
        self.bridge = config.bridge
        self.subnet = config.subnet
        self.host4 = addressing.host_address(config.subnet)
        self.host6 = addressing.host_address6(config.subnet6) if config.subnet6 else None
        self.allowed_host_ports = tuple(
            sorted({*config.guest_allowed_host_ports, *allowed_host_ports})
        )
        self._tap_owner = tap_owner
        self._resolv_conf = resolv_conf
        self._run = Runner(netns)
        self.firewall: Firewall = (
            NftFirewall(self._run)
            if config.firewall == "nftables"
            or (config.firewall == "auto" and proc.which("nft") is not None)
            else IptablesFirewall(self._run)
        )
        self._dnsmasq = dns.Dnsmasq(self._run, state_dir, listen=self.host4, netns=netns)
        self._sysctl = Sysctls(self._run, state_dir / "state.json")
        self._forwarders = NetnsForwarders(self._run, state_dir / "dial")
        self._lock = asyncio.Lock()
        self._rng = random.Random()

    # -- host side -------------------------------------------------------------------------

    def _require_root(self) -> None:
        if not detect.is_root():
            raise DriverUnavailable(
                "the bridge network driver needs root (CAP_NET_ADMIN)",
                hint='run as root, or set network.driver to "user"',
                field="network.driver",
            )

    def _upstream(self) -> list[dns.IPAddress]:
        found = list(self.config.upstream_dns) or dns.host_resolvers(self.netns, self._resolv_conf)
        return [a for a in found if a not in (self.host4, self.host6)]

    def guest_dns(self) -> tuple[dns.IPAddress, ...]:
        """The resolvers guests are given."""
        if self.config.dns == "dnsmasq":
            return (self.host4,)
        usable = dns.guest_resolvers(self._upstream())
        if not usable:
            raise NetworkError(
                'network.dns is "host" but the host has no resolver guests can reach'
                " (only loopback ones, or none)",
                hint='set network.dns to "dnsmasq" or list resolvers in network.upstream_dns',
                field="network.dns",
            )
        return tuple(usable)

    async def rules(self) -> RulesSpec:
        """The policy for the current config and the host's current addresses."""
        own = await link.host_addresses(self._run, exclude_dev=self.bridge)
        exclude: list[IPv4Network | IPv6Network] = [self.subnet]
        if self.config.subnet6 is not None:
            exclude.append(self.config.subnet6)
        return rules_spec(
            bridge=self.bridge,
            subnet=self.subnet,
            subnet6=self.config.subnet6,
            host4=self.host4,
            host6=self.host6,
            allowed_host_ports=self.allowed_host_ports,
            host_networks=host_networks_from_addresses(own, exclude),
            extra_blocked=self.config.blocked_networks,
            dns_forward=self.guest_dns() if self.config.dns == "host" else (),
            ipv6_egress=self.config.ipv6_egress,
            dns_on_host=self.config.dns == "dnsmasq",
        )

    def wanted_addresses(self) -> list[IPv4Interface | IPv6Interface]:
        """The bridge's addresses: the first host address of each subnet."""
        wanted: list[IPv4Interface | IPv6Interface] = [
            IPv4Interface(f"{self.host4}/{self.subnet.prefixlen}")
        ]
        if self.host6 is not None and self.config.subnet6 is not None:
            wanted.append(IPv6Interface(f"{self.host6}/{self.config.subnet6.prefixlen}"))
        return wanted

    async def _sysctls(self) -> list[str]:
        wanted = {"net.ipv4.ip_forward": "1"}
        if self.config.ipv6_egress and self.config.subnet6 is not None:
            wanted["net.ipv6.conf.all.forwarding"] = "1"
        local = {
            f"net.ipv4.conf.{self.bridge}.send_redirects": "0",
            f"net.ipv6.conf.{self.bridge}.accept_ra": "0",
        }
        return await self._sysctl.apply(wanted, local)

    async def setup(self) -> SetupReport:
        """Create or repair the bridge, forwarding, rules and resolver; idempotent."""
        self._require_root()
        async with self._lock:
            changes = await link.ensure_bridge(
                self._run, self.bridge, addressing.bridge_mac(self.bridge)
            )
            changes += await link.ensure_addresses(self._run, self.bridge, self.wanted_addresses())
            changes += await self._sysctls()
            ports = [PortSpec.of(a) for a in await self.allocations() if a.subnet == self.subnet]
            changes += await self.firewall.apply(await self.rules(), ports)
            if self.config.dns == "dnsmasq":
                changes += await self._dnsmasq.ensure(self._dnsmasq_args())
            else:
                self.guest_dns()
        return SetupReport(self.name, tuple(changes))

    def _dnsmasq_args(self) -> list[str]:
        listen: list[dns.IPAddress] = [self.host4]
        if self.host6 is not None:
            listen.append(self.host6)
        return dns.dnsmasq_args(
            listen=listen,
            upstream=self._upstream(),
            pid_file=self._dnsmasq.pid_file,
            log_file=self._dnsmasq.log_file,
        )

    async def _taps(self) -> list[dict[str, object]]:
        return [i for i in await link.links(self._run) if names.parse_tap(str(i.get("ifname")))]

    async def teardown(self, *, force: bool = False) -> SetupReport:
        """Remove the bridge, its TAPs, the rules, dnsmasq, forwarders; restore sysctls."""
        self._require_root()
        async with self._lock:
            taps = [t for t in await self._taps() if t.get("master") == self.bridge]
            if taps and not force:
                listed = ", ".join(str(t["ifname"]) for t in taps)
                raise NetworkInUse(
                    f"{len(taps)} sandbox TAPs are attached to {self.bridge}: {listed}",
                    hint="stop the sandboxes first, or pass --force to cut them off",
                )
            changes = []
            if await self._forwarders.stop():
                changes.append("stopped dial forwarders")
            if await self._dnsmasq.stop():
                changes.append("stopped dnsmasq")
            changes += await self.firewall.remove()
            for tap in taps:
                await link.delete_link(self._run, str(tap["ifname"]))
                changes.append(f"deleted TAP {tap['ifname']}")
            if await link.delete_link(self._run, self.bridge):
                changes.append(f"deleted bridge {self.bridge}")
            changes += await self._sysctl.restore()
        return SetupReport(self.name, tuple(changes))

    # -- sandboxes -------------------------------------------------------------------------

    def derive(self, sandbox_id: str, index: int) -> Allocation:
        """The allocation at host index `index` under the current config."""
        ip = addressing.guest_ip(self.subnet, index)
        subnet6 = self.config.subnet6
        return Allocation(
            sandbox_id=sandbox_id,
            driver=self.name,
            subnet=self.subnet,
            ip=ip,
            gateway=self.host4,
            mac=addressing.guest_mac(ip),
            tap=names.tap_name(sandbox_id),
            subnet6=subnet6,
            ip6=addressing.guest_ip6(subnet6, index) if subnet6 else None,
            gateway6=self.host6 if self.config.ipv6_egress else None,
            dns=self.guest_dns(),
            services_host=str(self.host4),
        )

    async def reserve(self, sandbox_id: str) -> Allocation:
        """Reserve (or re-derive) the sandbox's address in the repository only.

        `allocate` does this and then creates the host side; on its own it needs no root.
        """
        allocation, _fresh = await self._reserve(sandbox_id, await self.repo.get(sandbox_id))
        return allocation

    async def _reserve(
        self, sandbox_id: str, existing: Allocation | None
    ) -> tuple[Allocation, bool]:
        preferred = None
        if existing is not None and existing.driver == self.name:
            preferred = addressing.index_of(existing.subnet, existing.ip)
            if preferred in addressing.guest_indices(self.subnet):
                assert preferred is not None
                if existing == self.derive(sandbox_id, preferred):
                    return existing, False

        def build(others: list[Allocation], attempt: int) -> Allocation:
            taken = {
                addressing.index_of(self.subnet, a.ip)
                for a in others
                if a.driver == self.name and a.subnet == self.subnet
            }
            index = allocator.pick_index(
                self.subnet,
                {i for i in taken if i is not None},
                preferred=preferred,
                attempt=attempt,
                rng=self._rng,
            )
            return self.derive(sandbox_id, index)

        return await allocator.reserve(self.repo, sandbox_id, build), True

    async def allocate(self, sandbox_id: str, *, guest_ports: Sequence[int] = ()) -> Allocation:
        """Reserve an address (re-derived after a subnet change) and create the host side."""
        self._require_root()
        names.tap_name(sandbox_id)  # validates the id before anything is reserved
        if await link.link(self._run, self.bridge) is None:
            raise NetworkNotReady(
                f"bridge {self.bridge} does not exist", hint="run `atelier network setup`"
            )
        existing = await self.repo.get(sandbox_id)
        allocation, fresh = await self._reserve(sandbox_id, existing)
        try:
            async with self._lock:
                if existing is not None and existing.driver == self.name and fresh:
                    await self._unpin(existing)  # re-derived: drop the old addresses
                    await self._forwarders.stop(sandbox_id)
                await self._attach(allocation)
        except BaseException:
            await asyncio.shield(self._detach(sandbox_id, allocation))
            if fresh:
                await asyncio.shield(self.repo.delete(sandbox_id))
            raise
        return allocation

    async def _attach(self, allocation: Allocation) -> None:
        assert allocation.tap is not None
        await self.firewall.add_port(PortSpec.of(allocation))
        await link.pin_neighbour(self._run, self.bridge, allocation.ip, allocation.mac)
        if allocation.ip6 is not None:
            await link.pin_neighbour(self._run, self.bridge, allocation.ip6, allocation.mac)
        await link.ensure_tap(
            self._run, allocation.tap, self.bridge, allocation.mac, self._tap_owner
        )

    async def _detach(self, sandbox_id: str, allocation: Allocation | None) -> None:
        tap = names.tap_name(sandbox_id)
        async with self._lock:
            await link.delete_link(self._run, tap)
            await self.firewall.remove_port(sandbox_id, tap)
            if allocation is not None and allocation.driver == self.name:
                await self._unpin(allocation)
        await self._forwarders.stop(sandbox_id)

    async def _unpin(self, allocation: Allocation) -> None:
        await link.unpin_neighbour(self._run, self.bridge, allocation.ip)
        if allocation.ip6 is not None:
            await link.unpin_neighbour(self._run, self.bridge, allocation.ip6)

    async def release(self, sandbox_id: str) -> None:
        """Delete the TAP, its rules, neighbour entries and forwarders, then the allocation."""
        self._require_root()
        await self._detach(sandbox_id, await self.repo.get(sandbox_id))
        await self.repo.delete(sandbox_id)

    async def allocations(self) -> list[Allocation]:
        """This driver's allocations."""
        return [a for a in await self.repo.list_all() if a.driver == self.name]

    async def host_ports(self) -> list[str]:
        """Sandbox ids that have a TAP or a pinning chain on this host."""
        found = {names.parse_tap(str(t["ifname"])) for t in await self._taps()}
        state = await self.firewall.inspect(await self.rules())
        found |= {names.parse_tap(tap) for tap in state.ports}
        return sorted(i for i in found if i)

    def nic(self, allocation: Allocation) -> Nic:
        """The guest NIC: the sandbox's TAP with its derived MAC."""
        return Nic(kind="tap", mac=allocation.mac, tap=allocation.tap)

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
        """`ip:port` on the bridge, or a Unix socket forwarder when running in a netns."""
        allocation = await self._resolve(target)
        if self.netns is None:
            return Endpoint("tcp", host=str(allocation.ip), port=port)
        path = await self._forwarders.ensure(allocation.sandbox_id, allocation.ip, port)
        return Endpoint("unix", path=path)

    async def dial(
        self, target: Allocation | str, port: int, *, timeout: float = 5.0
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP stream to the guest port."""
        allocation = await self._resolve(target)
        endpoint = await self.endpoint(allocation, port)
        what = f"port {port} of sandbox {allocation.sandbox_id}"
        return await open_endpoint(endpoint, timeout=timeout, what=what)

    # -- status ----------------------------------------------------------------------------

    async def status(self) -> NetworkStatus:
        """The bridge, rules, resolver, TAPs and allocations, with differences as problems."""
        return await bridge_status(self, self._run, self._dnsmasq)
