"""The bridge driver's host objects over time: release, teardown, a subnet change, br_netfilter.

Each test builds its own lab, because each one changes the host side.
"""

from __future__ import annotations

import asyncio
import json
from ipaddress import IPv4Address, IPv4Network, IPv6Network
from pathlib import Path

import pytest

from atelier.config import AtelierConfig, PathsConfig
from atelier.core.network import NetworkService
from atelier.runtime.host import names, proc
from atelier.runtime.network.errors import NetworkInUse
from tests.integration.network.conftest import (
    CACHE_PORT,
    LAN,
    UPLINK_HOST,
    WEB,
    Lab,
    lab_config,
    open_lab,
)

pytestmark = [pytest.mark.root, pytest.mark.timeout(300)]


async def link_names(lab: Lab) -> set[str]:
    return {i["ifname"] for i in json.loads((await lab.ip(lab.host, "-j", "link", "show")).text)}


async def nft_listing(lab: Lab) -> str:
    return (await lab.exec(lab.host, "nft", "--stateless", "list", "ruleset")).text


async def test_release_removes_the_tap_rules_neighbours_and_forwarders(lab: Lab) -> None:
    net = lab.driver()
    await net.setup()
    guest = await lab.add_guest(net, 1)
    allocation = guest.allocation
    assert allocation.tap is not None
    chain = names.port_chain(allocation.sandbox_id)
    await lab.serve(guest.ns, "0.0.0.0", 22, "sshd")
    reader, writer = await net.dial(allocation, 22)
    assert (await reader.readline()).startswith(b"sshd")
    writer.close()
    socket = net.state_dir / "dial" / names.dial_socket(allocation.sandbox_id, 22)
    assert socket.exists()
    neigh = (await lab.ip(lab.host, "neigh", "show", "nud", "permanent")).text
    assert str(allocation.ip) in neigh and allocation.tap in await link_names(lab)
    assert chain in await nft_listing(lab)

    await net.release(allocation.sandbox_id)

    assert allocation.tap not in await link_names(lab)
    listing = await nft_listing(lab)
    assert chain not in listing and allocation.tap not in listing
    assert str(allocation.ip) not in (await lab.ip(lab.host, "neigh", "show")).text
    assert not socket.exists()
    assert await lab.repo.get(allocation.sandbox_id) is None
    assert (await net.status()).ports == ()
    await net.release(allocation.sandbox_id)  # idempotent


async def test_concurrent_allocations_get_distinct_host_objects(lab: Lab) -> None:
    net = lab.driver()
    await net.setup()
    ids = [names.new_id() for _ in range(8)]
    allocations = await asyncio.gather(*(net.allocate(i) for i in ids))
    assert len({a.ip for a in allocations}) == len({a.tap for a in allocations}) == 8
    assert {a.tap for a in allocations} <= await link_names(lab)
    status = await net.status()
    assert status.problems == () and len(status.ports) == 8
    await asyncio.gather(*(net.release(i) for i in ids))
    assert not {n for n in await link_names(lab) if names.parse_tap(n)}


@pytest.mark.parametrize("firewall", ["nftables", "iptables"])
async def test_teardown_removes_exactly_what_setup_created(firewall: str) -> None:
    lab = await open_lab(firewall)
    try:
        before_links = await link_names(lab)
        before_rules = await nft_listing(lab)
        # New namespaces inherit IPv4 forwarding from the root one: start from "off".
        await lab.exec(lab.host, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0")
        net = lab.driver()
        await net.setup()
        await lab.add_guest(net, 1)
        pid = (await net.status()).dns_pid
        assert pid is not None
        with pytest.raises(NetworkInUse):
            await net.teardown()
        report = await net.teardown(force=True)
        assert report.changes
        assert await link_names(lab) == before_links  # lo and the uplink only
        after_rules = await nft_listing(lab)
        if firewall == "nftables":
            assert after_rules == before_rules
        else:  # iptables-nft leaves its (empty) built-in chains, which are not Atelier's
            assert "ATL-" not in after_rules and "atl-" not in after_rules
            assert "jump" not in after_rules and "drop" not in after_rules
        assert not proc.pid_alive(pid)
        assert not (net.state_dir / "state.json").exists()
        forward = await lab.exec(lab.host, "sysctl", "-n", "net.ipv4.ip_forward")
        assert forward.text.strip() == "0"
        assert (await net.teardown()).changes == ()
    finally:
        await lab.close()


async def test_a_subnet_change_moves_the_bridge_and_rederives_guests(lab: Lab) -> None:
    net = lab.driver()
    await net.setup()
    guest = await lab.add_guest(net, 1)
    old = guest.allocation
    config = lab_config("nftables").model_copy(
        update={"subnet": IPv4Network("10.99.0.0/24"), "subnet6": IPv6Network("fd00:beef::/64")}
    )
    moved = lab.driver(config)
    report = await moved.setup()
    assert "added address 10.99.0.1/24 to atl-br0" in report.changes
    assert "removed address 172.16.0.1/24 from atl-br0" in report.changes
    status = await moved.status()
    assert any(old.sandbox_id in note for note in status.notes)

    new = await moved.allocate(old.sandbox_id)

    assert new.tap == old.tap and new.subnet == IPv4Network("10.99.0.0/24")
    assert (new.ip, new.gateway) == (IPv4Address("10.99.0.2"), IPv4Address("10.99.0.1"))
    assert new.dns == (IPv4Address("10.99.0.1"),) and new.mac == "02:a7:0a:63:00:02"
    assert "atelier.ip=10.99.0.2/24" in new.kernel_params()
    await lab.ip(guest.ns, "addr", "flush", "dev", "eth0")
    await lab.configure(guest.ns, new)
    assert await lab.probe(guest.ns, "connect", "10.99.0.1", str(CACHE_PORT)) == (
        0,
        "host 10.99.0.2",
    )
    assert await lab.probe(guest.ns, "connect", WEB, "8080") == (0, f"inet {UPLINK_HOST}")
    assert (await moved.status()).problems == ()
    neigh = (await lab.ip(lab.host, "neigh", "show", "nud", "permanent")).text
    assert str(old.ip) not in neigh and str(new.ip) in neigh


async def test_rules_hold_with_br_netfilter_enabled() -> None:
    lab = await open_lab("nftables", br_netfilter=True)
    try:
        net = lab.driver()
        await net.setup()
        a = await lab.add_guest(net, 1)
        b = await lab.add_guest(net, 2)
        await lab.serve(b.ns, "0.0.0.0", 22, "b")
        assert await lab.probe(a.ns, "connect", WEB, "8080") == (0, f"inet {UPLINK_HOST}")
        assert (await lab.probe(a.ns, "connect", str(b.allocation.ip), "22", "1.5"))[0] != 0
        assert (await lab.probe(a.ns, "connect", "172.16.0.1", "4000", "1.5"))[0] != 0
    finally:
        await lab.close()


async def test_golden_nft_scripts_are_accepted_by_nft(lab: Lab) -> None:
    golden = Path(__file__).parents[2] / "unit" / "runtime" / "network" / "golden"
    for name in ("inet_default.nft", "inet_egress6_hostdns.nft", "bridge.nft", "port.nft",
                 "port_remove.nft"):  # fmt: skip
        await lab.exec(lab.host, "nft", "-f", str(golden / name))


async def test_the_core_service_sets_up_and_reports(lab: Lab) -> None:
    config = AtelierConfig(paths=PathsConfig(run_dir=lab.state_dir), network=lab.config)
    service = NetworkService(config, lab.repo, netns=lab.host)
    assert service.name == "bridge" and service.reason.startswith("auto: ")
    first = await service.setup()
    assert "created bridge atl-br0" in first.changes
    assert (await service.setup()).changes == ()
    overview = await service.status()
    assert overview.as_json()["healthy"] is True
    report = await service.teardown()
    assert "deleted bridge atl-br0" in report.changes


async def test_iptables_setup_keeps_its_jump_ahead_of_foreign_accepts() -> None:
    lab = await open_lab("iptables")
    try:
        net = lab.driver()
        await net.setup()
        guest = await lab.add_guest(net, 1)
        await lab.exec(lab.host, "iptables", "-w", "5", "-I", "FORWARD", "1", "-j", "ACCEPT")
        report = await net.setup()
        assert report.changes == ("moved the jump to ATL-FORWARD first in iptables filter FORWARD",)
        forward = (await lab.exec(lab.host, "iptables", "-w", "5", "-S", "FORWARD")).text
        assert forward.splitlines()[1] == "-A FORWARD -j ATL-FORWARD"
        code, _ = await lab.probe(guest.ns, "connect", LAN, "8080", "1.5")
        assert code != 0
        assert (await net.setup()).changes == ()
    finally:
        await lab.close()


async def test_a_dnsmasq_whose_state_was_lost_is_replaced_and_removed(lab: Lab) -> None:
    net = lab.driver()
    await net.setup()
    first = (await net.status()).dns_pid
    assert first is not None
    (net.state_dir / "dnsmasq.pid").unlink()  # a lost state directory
    status = await net.status()
    assert any("orphaned dnsmasq" in p and str(first) in p for p in status.problems)
    report = await net.setup()
    assert f"stopped an orphaned dnsmasq (pid {first}) whose state was lost" in report.changes
    assert not proc.pid_alive(first)
    second = (await net.status()).dns_pid
    assert second is not None and second != first
    await net.teardown()
    assert not proc.pid_alive(second)
