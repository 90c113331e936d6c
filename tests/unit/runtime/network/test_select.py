"""Driver selection and the reason it gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.runtime.network.base import AllocationRepository, Network
from atelier.runtime.network.bridge import BridgeNetwork
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.network.memory import MemoryAllocationRepository
from atelier.runtime.network.select import HostFacts, choose_driver, select_network, state_dir
from atelier.runtime.network.user import UserNetwork
from tests.fakes.network import FakeNetwork

ALL_TOOLS = {t: True for t in ("ip", "bridge", "sysctl", "nft", "iptables", "ebtables", "dnsmasq")}


def facts(root: bool = True, tun: bool = True, **missing: bool) -> HostFacts:
    return HostFacts(root=root, tun=tun, tools={**ALL_TOOLS, **missing})


def config(**values: object) -> NetworkConfig:
    return NetworkConfig(**values)


def test_auto_picks_bridge_as_root_with_the_tools() -> None:
    name, reason = choose_driver(config(), facts())
    assert name == "bridge"
    assert reason == "auto: running as root with TUN/TAP, iproute2 and nftables"


@pytest.mark.parametrize(
    ("host", "why"),
    [
        (facts(root=False), "not running as root"),
        (facts(tun=False), "/dev/net/tun is missing"),
        (facts(dnsmasq=False), "missing host tools: dnsmasq"),
        (facts(nft=False, ebtables=False), "missing host tools: nft (or iptables + ebtables)"),
    ],
)
def test_auto_falls_back_to_user_and_says_why(host: HostFacts, why: str) -> None:
    name, reason = choose_driver(config(), host)
    assert name == "user" and why in reason and reason.startswith("auto: ")


def test_iptables_fallback_counts_when_nft_is_missing() -> None:
    name, reason = choose_driver(config(), facts(nft=False))
    assert name == "bridge" and "iptables + ebtables" in reason


def test_explicit_drivers() -> None:
    assert choose_driver(config(driver="user"), facts())[0] == "user"
    assert choose_driver(config(driver="none"), facts())[0] is None
    name, reason = choose_driver(config(driver="bridge"), facts(root=False))
    assert name == "bridge" and "but not running as root" in reason
    assert (
        "missing host tools: nft"
        in choose_driver(config(driver="bridge", firewall="nftables"), facts(nft=False))[1]
    )


def test_select_network_builds_the_driver(tmp_path: Path) -> None:
    repo: AllocationRepository = MemoryAllocationRepository()
    bridge, _ = select_network(config(), repo, run_dir=tmp_path, facts=facts())
    assert isinstance(bridge, BridgeNetwork) and isinstance(bridge, Network)
    assert bridge.state_dir == tmp_path / "network" / "atl-br0"
    user, _ = select_network(config(), repo, run_dir=tmp_path, facts=facts(root=False))
    assert isinstance(user, UserNetwork) and isinstance(user, Network)
    none, reason = select_network(config(driver="none"), repo, run_dir=tmp_path, facts=facts())
    assert none is None and "network.driver = none" in reason
    assert state_dir(tmp_path, config(), "ns1") == tmp_path / "network" / "ns1.atl-br0"


def test_repositories_implement_the_protocol() -> None:
    assert isinstance(MemoryAllocationRepository(), AllocationRepository)


async def test_the_fake_network_implements_the_protocol() -> None:
    fake = FakeNetwork()
    assert isinstance(fake, Network)
    allocation = await fake.allocate("abcdefgh")
    assert fake.nic(allocation).tap == "atl-abcdefgh"
    assert fake.calls == [("allocate", "abcdefgh")]
