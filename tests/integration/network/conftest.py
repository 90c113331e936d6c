"""A network lab made of namespaces the test owns, for the bridge driver's integration tests.

    atl-test-host-<r>   the "host": bridge, rules, dnsmasq, sandbox TAPs (driver netns)
    atl-test-inet-<r>   "the internet" behind it on a veth uplink (203.0.113.0/24): a web
                        server on 198.51.100.10, a resolver on 198.51.100.53 answering
                        example.test, a fake metadata service on 169.254.169.254 and a
                        "LAN" server on 10.77.0.5 (routed via the uplink)
    atl-test-g<n>-<r>   one per guest: a TAP `eth0` relayed by tapguest.py to the sandbox's
                        real TAP in the host namespace, configured as the guest init would

Nothing is created in the root namespace; traffic stays inside these namespaces (and the
Unix sockets of `dial()`). `Lab.close()` kills every process left in the namespaces,
deletes them and the state directory, also when the test failed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from atelier.runtime.host import names, proc
from atelier.runtime.network.base import Allocation
from atelier.runtime.network.bridge import BridgeNetwork
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.network.memory import MemoryAllocationRepository

HERE = Path(__file__).resolve().parent
PROBE = HERE / "netprobe.py"
RELAY = HERE / "tapguest.py"
UPLINK_HOST = "203.0.113.1"
UPLINK_INET = "203.0.113.2"
WEB = "198.51.100.10"
RESOLVER = "198.51.100.53"
METADATA = "169.254.169.254"
LAN = "10.77.0.5"
CACHE_PORT = 4873  # allowed guest -> host
PRIVATE_PORT = 4000  # served on the host, not allowed


def require_root() -> None:
    """Skip unless root with the tools the lab and the driver need."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    for tool in ("ip", "bridge", "nft", "iptables", "ebtables", "dnsmasq", "socat", "sysctl"):
        if proc.which(tool) is None:
            pytest.skip(f"needs {tool} (apt-get install {proc.TOOL_PACKAGES.get(tool, tool)})")
    if not Path("/dev/net/tun").exists():
        pytest.skip("needs /dev/net/tun")


@dataclass
class Guest:
    """A namespace playing one sandbox VM."""

    ns: str
    allocation: Allocation


@dataclass
class Lab:
    """The namespaces, the driver under test, and everything to clean up."""

    suffix: str
    state_dir: Path
    config: NetworkConfig
    repo: MemoryAllocationRepository = field(default_factory=MemoryAllocationRepository)
    namespaces: list[str] = field(default_factory=list)
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    guests: list[Guest] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"atl-test-host-{self.suffix}"

    @property
    def inet(self) -> str:
        return f"atl-test-inet-{self.suffix}"

    def driver(self, config: NetworkConfig | None = None) -> BridgeNetwork:
        """A bridge driver living in the host namespace."""
        return BridgeNetwork(
            config or self.config, self.repo, state_dir=self.state_dir, netns=self.host
        )

    async def ip(self, ns: str, *args: str, check: bool = True) -> proc.Completed:
        return await proc.run(["ip", "-n", ns, *args], timeout=10, check=check)

    async def exec(self, ns: str, *argv: str, check: bool = True) -> proc.Completed:
        return await proc.run(["ip", "netns", "exec", ns, *argv], timeout=15, check=check)

    async def add_ns(self, name: str) -> str:
        await proc.run(["ip", "netns", "add", name], timeout=10)
        self.namespaces.append(name)
        await self.ip(name, "link", "set", "lo", "up")
        return name

    async def spawn(self, ns: str, *argv: str, ready: str | None) -> asyncio.subprocess.Process:
        """Start a process in `ns` and wait for its `ready` line on stdout (if given)."""
        child = await proc.spawn(["ip", "netns", "exec", ns, *argv], stdout=asyncio.subprocess.PIPE)
        self.processes.append(child)
        if ready is not None:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 10)
            assert line.decode().strip() == ready, f"{argv} said {line!r}"
        return child

    async def serve(self, ns: str, host: str, port: int, tag: str) -> None:
        await self.spawn(ns, sys.executable, str(PROBE), "serve", host, str(port), tag,
                         ready="listening")  # fmt: skip

    async def probe(self, ns: str, *args: str) -> tuple[int, str]:
        done = await self.exec(ns, sys.executable, str(PROBE), *args, check=False)
        return done.returncode, done.text.strip()

    async def build(self, br_netfilter: bool) -> None:
        """The host and "internet" namespaces with their services."""
        host, inet = await self.add_ns(self.host), await self.add_ns(self.inet)
        await self.ip(host, "link", "add", "upl0", "type", "veth", "peer", "name", "upl1",
                      "netns", inet)  # fmt: skip
        await self.ip(host, "addr", "add", f"{UPLINK_HOST}/24", "dev", "upl0")
        await self.ip(host, "link", "set", "upl0", "up")
        await self.ip(host, "route", "add", "default", "via", UPLINK_INET)
        await self.ip(inet, "addr", "add", f"{UPLINK_INET}/24", "dev", "upl1")
        await self.ip(inet, "link", "set", "upl1", "up")
        for address in (WEB, RESOLVER, METADATA, LAN):
            await self.ip(inet, "addr", "add", f"{address}/32", "dev", "lo")
        value = "1" if br_netfilter else "0"
        for key in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables"):
            await self.exec(host, "sysctl", "-q", "-w", f"net.bridge.{key}={value}", check=False)
        await self.serve(inet, WEB, 8080, "inet")
        await self.serve(inet, METADATA, 80, "metadata")
        await self.serve(inet, LAN, 8080, "lan")
        await self.serve(host, "::", CACHE_PORT, "host")  # dual-stack
        await self.serve(host, "::", PRIVATE_PORT, "private")
        await self.spawn(
            inet, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
            "--no-hosts", "--bind-interfaces", f"--listen-address={RESOLVER}",
            f"--pid-file={self.state_dir / 'inet-dnsmasq.pid'}",
            f"--address=/example.test/{WEB}", "--log-facility=-",
            ready=None,
        )  # fmt: skip
        for _ in range(100):  # dnsmasq says nothing when it is ready: ask it
            if (await self.probe(inet, "dns", RESOLVER, "example.test"))[0] == 0:
                break
        else:
            raise AssertionError(f"the resolver in {inet} does not answer")

    async def add_guest(self, net: BridgeNetwork, index: int) -> Guest:
        """Allocate a sandbox and attach a guest namespace to its TAP."""
        allocation = await net.allocate(names.new_id())
        assert allocation.tap is not None
        ns = await self.add_ns(f"atl-test-g{index}-{self.suffix}")
        await self.spawn(ns, sys.executable, str(RELAY), self.host, allocation.tap, "eth0",
                         ready="ready")  # fmt: skip
        await self.configure(ns, allocation)
        guest = Guest(ns, allocation)
        self.guests.append(guest)
        return guest

    async def configure(self, ns: str, allocation: Allocation) -> None:
        """What the guest init does with the kernel parameters."""
        await self.ip(ns, "link", "set", "eth0", "address", allocation.mac)
        await self.ip(ns, "link", "set", "eth0", "up")
        await self.ip(ns, "addr", "add", f"{allocation.ip}/{allocation.prefix}", "dev", "eth0")
        await self.ip(ns, "route", "add", "default", "via", str(allocation.gateway))
        if allocation.ip6 is not None and allocation.subnet6 is not None:
            prefix6 = allocation.subnet6.prefixlen
            await self.ip(ns, "addr", "add", f"{allocation.ip6}/{prefix6}", "dev", "eth0",
                          "nodad")  # fmt: skip

    async def close(self) -> None:
        """Kill what runs in the namespaces, delete them and the state directory."""
        for child in self.processes:
            if child.returncode is None:
                child.kill()
                await child.wait()
        for ns in reversed(self.namespaces):
            pids = await proc.run(["ip", "netns", "pids", ns], timeout=10, check=False)
            for pid in pids.text.split():
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
            await proc.run(["ip", "netns", "del", ns], timeout=10, check=False)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        left = (await proc.run(["ip", "netns", "list"], timeout=10)).text
        assert self.suffix not in left, f"namespaces left behind: {left}"


def lab_config(firewall: str) -> NetworkConfig:
    return NetworkConfig(
        upstream_dns=[RESOLVER],
        guest_allowed_host_ports=[CACHE_PORT],
        firewall=firewall,
    )


async def open_lab(firewall: str = "nftables", br_netfilter: bool = False) -> Lab:
    """A built lab (caller must close it)."""
    require_root()
    state = Path(tempfile.mkdtemp(prefix="atl-net-"))
    lab = Lab(secrets.token_hex(3), state, lab_config(firewall))
    try:
        await lab.build(br_netfilter)
    except BaseException:
        await lab.close()
        raise
    return lab


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    """A fresh lab for tests that change the host side."""
    built = await open_lab()
    try:
        yield built
    finally:
        await built.close()
