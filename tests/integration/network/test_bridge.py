"""The bridge driver in namespaces: NAT, DNS, isolation, pinning, dial, idempotent setup.

Two guests share one lab per firewall backend (nftables, and the iptables + ebtables
fallback), with br_netfilter off so nothing depends on it. Blocked destinations are real
services the host namespace itself can reach, so a failed connection proves the rules.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from atelier.runtime.network.bridge import BridgeNetwork
from tests.integration.network.conftest import (
    CACHE_PORT,
    LAN,
    METADATA,
    PRIVATE_PORT,
    UPLINK_HOST,
    UPLINK_INET,
    WEB,
    Guest,
    Lab,
    open_lab,
)

pytestmark = [pytest.mark.root, pytest.mark.timeout(300)]

BLOCKED_WAIT = "1.5"  # seconds a probe waits for a connection the rules drop


@dataclass
class Pair:
    """A lab with the driver set up and two guests attached."""

    lab: Lab
    net: BridgeNetwork
    a: Guest
    b: Guest


@pytest.fixture(scope="module", params=["nftables", "iptables"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    lab = await open_lab(request.param, br_netfilter=False)
    try:
        net = lab.driver()
        await net.setup()
        a = await lab.add_guest(net, 1)
        b = await lab.add_guest(net, 2)
        yield Pair(lab, net, a, b)
    finally:
        await lab.close()


def without_timers(data: object) -> object:
    """Link details minus the bridge timers that tick between two listings."""
    if isinstance(data, dict):
        return {k: without_timers(v) for k, v in data.items() if not k.endswith("_timer")}
    if isinstance(data, list):
        return [without_timers(v) for v in data]
    return data


async def blocked(lab: Lab, ns: str, host: str, port: int) -> bool:
    code, text = await lab.probe(ns, "connect", host, str(port), BLOCKED_WAIT)
    return code != 0 and (text in ("timeout", "refused") or text.startswith("error"))


async def test_guests_reach_the_allowed_host_port(pair: Pair) -> None:
    for guest in (pair.a, pair.b):
        code, text = await pair.lab.probe(guest.ns, "connect", str(pair.net.host4), str(CACHE_PORT))
        assert (code, text) == (0, f"host {guest.allocation.ip}")


async def test_allowed_host_port_over_ipv6(pair: Pair) -> None:
    guest = pair.a
    code, text = await pair.lab.probe(guest.ns, "connect", str(pair.net.host6), str(CACHE_PORT))
    assert (code, text) == (0, f"host {guest.allocation.ip6}")


async def test_outbound_traffic_is_masqueraded(pair: Pair) -> None:
    for guest in (pair.a, pair.b):
        code, text = await pair.lab.probe(guest.ns, "connect", WEB, "8080")
        assert (code, text) == (0, f"inet {UPLINK_HOST}")


async def test_names_resolve_through_the_bridge_resolver(pair: Pair) -> None:
    assert pair.a.allocation.dns == (pair.net.host4,)
    code, text = await pair.lab.probe(pair.a.ns, "dns", str(pair.net.host4), "example.test")
    assert (code, text) == (0, WEB)


async def test_blocked_destinations(pair: Pair) -> None:
    lab, ns = pair.lab, pair.a.ns
    # The host itself reaches every one of these, so only the rules can stop the guest.
    for host, port in ((METADATA, 80), (LAN, 8080), (UPLINK_HOST, CACHE_PORT)):
        assert (await lab.probe(lab.host, "connect", host, str(port)))[0] == 0, host
    targets = [
        (str(pair.net.host4), PRIVATE_PORT),  # a host port not served to guests
        (UPLINK_HOST, CACHE_PORT),  # an allowed port, but on another host address
        (METADATA, 80),  # link-local metadata
        (LAN, 8080),  # a private network behind the host
        (UPLINK_INET, 22),  # the host's own uplink network
    ]
    results = await asyncio.gather(*(blocked(lab, ns, h, p) for h, p in targets))
    assert dict(zip(targets, results, strict=True)) == {t: True for t in targets}


async def test_guests_cannot_reach_each_other(pair: Pair) -> None:
    lab, a, b = pair.lab, pair.a, pair.b
    await lab.serve(b.ns, "::", 22, "b")  # dual-stack
    await lab.serve(a.ns, "::", 22, "a")
    targets = [
        (a.ns, str(b.allocation.ip)),
        (b.ns, str(a.allocation.ip)),
        (a.ns, str(b.allocation.ip6)),
        (b.ns, str(a.allocation.ip6)),
    ]
    results = await asyncio.gather(*(blocked(lab, ns, host, 22) for ns, host in targets))
    assert all(results), dict(zip(targets, results, strict=True))
    # Even knowing the other guest's MAC (no ARP needed), frames do not cross the bridge.
    await lab.ip(a.ns, "neigh", "replace", str(b.allocation.ip), "lladdr", b.allocation.mac,
                 "dev", "eth0")  # fmt: skip
    assert await blocked(lab, a.ns, str(b.allocation.ip), 22)


async def test_dial_reaches_a_guest_port_from_the_root_namespace(pair: Pair) -> None:
    await pair.lab.serve(pair.b.ns, "0.0.0.0", 2200, "dialled")
    endpoint = await pair.net.endpoint(pair.b.allocation, 2200)
    assert endpoint.kind == "unix" and endpoint.dial_string().startswith("unix//")
    reader, writer = await pair.net.dial(pair.b.allocation.sandbox_id, 2200)
    try:
        assert (
            await asyncio.wait_for(reader.readline(), 5) == f"dialled {pair.net.host4}\n".encode()
        )
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_guest_that_changes_its_address_loses_connectivity(pair: Pair) -> None:
    lab, net = pair.lab, pair.net
    guest = await lab.add_guest(net, 3)
    host = str(net.host4)
    assert (await lab.probe(guest.ns, "connect", host, str(CACHE_PORT)))[0] == 0
    await lab.ip(guest.ns, "addr", "flush", "dev", "eth0")
    await lab.ip(guest.ns, "addr", "add", "172.16.0.200/24", "dev", "eth0")
    await lab.ip(guest.ns, "route", "add", "default", "via", host)
    await lab.ip(guest.ns, "addr", "add", "fd00:a7e1::200/64", "dev", "eth0", "nodad")
    targets = [(host, CACHE_PORT), (WEB, 8080), (str(net.host6), CACHE_PORT)]
    results = await asyncio.gather(*(blocked(lab, guest.ns, h, p) for h, p in targets))
    assert all(results), dict(zip(targets, results, strict=True))


async def test_a_guest_that_changes_its_mac_loses_connectivity(pair: Pair) -> None:
    lab, net = pair.lab, pair.net
    guest = await lab.add_guest(net, 4)
    assert (await lab.probe(guest.ns, "connect", str(net.host4), str(CACHE_PORT)))[0] == 0
    await lab.ip(guest.ns, "link", "set", "eth0", "address", "02:a7:00:00:00:99")
    assert await blocked(lab, guest.ns, str(net.host4), CACHE_PORT)


async def test_setup_twice_changes_nothing(pair: Pair) -> None:
    lab = pair.lab

    async def snapshot() -> list[object]:
        links = json.loads((await lab.ip(lab.host, "-j", "-d", "link", "show")).text)
        addrs = json.loads((await lab.ip(lab.host, "-j", "addr", "show")).text)
        # Addresses without their flags: a fresh TAP's link-local address leaves "tentative".
        addresses = sorted((i["ifname"], a["local"], a["prefixlen"])
                           for i in addrs for a in i["addr_info"])  # fmt: skip
        listings = [
            await lab.exec(lab.host, "nft", "--stateless", "list", "ruleset"),
            await lab.ip(lab.host, "neigh", "show", "nud", "permanent"),
            await lab.exec(lab.host, "sysctl", "net.ipv4.ip_forward"),
        ]
        return [without_timers(links), addresses, *(d.text for d in listings)]

    before = await snapshot()
    report = await pair.net.setup()
    assert report.changes == ()
    assert await snapshot() == before


async def test_status_is_healthy_and_lists_pinned_ports(pair: Pair) -> None:
    status = await pair.net.status()
    assert status.problems == ()
    assert status.bridge_up and status.forwarding and status.dns_pid
    ids = {g.allocation.sandbox_id for g in pair.lab.guests}
    assert {p.sandbox_id for p in status.ports} == ids
    assert all(p.isolated and p.pinned and p.on_bridge for p in status.ports)
    assert {a.sandbox_id for a in status.allocations} == ids
