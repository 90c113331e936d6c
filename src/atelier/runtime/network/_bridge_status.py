"""`status` of the bridge driver: the host side as found, compared with the config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from atelier.runtime.host import names
from atelier.runtime.network import link
from atelier.runtime.network.base import NetworkStatus, PortStatus
from atelier.runtime.network.dns import Dnsmasq
from atelier.runtime.network.errors import NetworkError
from atelier.runtime.network.firewall import FirewallState
from atelier.runtime.network.runner import Runner

if TYPE_CHECKING:
    from atelier.runtime.network.bridge import BridgeNetwork


async def _bridge_problems(
    net: BridgeNetwork, run: Runner
) -> tuple[list[str], list[str], bool, bool]:
    info = await link.link(run, net.bridge)
    if info is None:
        return (
            [f"bridge {net.bridge} does not exist (run `atelier network setup`)"],
            [],
            False,
            False,
        )
    problems = [] if link.is_up(info) else [f"bridge {net.bridge} is down"]
    have = await link.global_addresses(run, net.bridge)
    for wanted in net.wanted_addresses():
        if wanted not in have:
            problems.append(f"bridge {net.bridge} lacks address {wanted}")
    problems += [
        f"bridge {net.bridge} has a foreign address {a}"
        for a in have
        if a not in net.wanted_addresses()
    ]
    return problems, [str(a) for a in have], True, link.is_up(info)


async def _ports(net: BridgeNetwork, run: Runner, fw: FirewallState | None) -> list[PortStatus]:
    found = []
    for info in await link.links(run):
        name = str(info.get("ifname"))
        sandbox_id = names.parse_tap(name)
        if sandbox_id is None:
            continue
        found.append(
            PortStatus(
                name=name,
                sandbox_id=sandbox_id,
                up=link.is_up(info),
                on_bridge=info.get("master") == net.bridge,
                isolated=link.is_isolated(info),
                pinned=fw is not None and name in fw.ports,
            )
        )
    return found


def _port_problems(ports: list[PortStatus]) -> list[str]:
    problems = []
    for port in ports:
        if not port.on_bridge:
            problems.append(f"TAP {port.name} is not attached to the bridge")
        if not port.isolated:
            problems.append(f"TAP {port.name} is not an isolated bridge port")
        if not port.pinned:
            problems.append(f"TAP {port.name} has no pinning rules (it gets nothing through)")
    return problems


async def bridge_status(net: BridgeNetwork, run: Runner, dnsmasq: Dnsmasq) -> NetworkStatus:
    """Everything `atelier network status` shows for the bridge driver."""
    problems, addresses, exists, up = await _bridge_problems(net, run)
    fw: FirewallState | None = None
    try:
        fw = await net.firewall.inspect(await net.rules())
    except NetworkError as exc:
        problems.append(exc.message)
    if fw is not None and not fw.present:
        problems.append(f"no {net.firewall.name} rules are installed")
    elif fw is not None and not fw.current:
        problems.append(f"the {net.firewall.name} rules do not match the configuration")
    forwarding = await link.sysctl(run, "net.ipv4.ip_forward") == "1"
    if not forwarding:
        problems.append("IPv4 forwarding is off (net.ipv4.ip_forward=0)")
    pid = None
    if net.config.dns == "dnsmasq":
        running = dnsmasq.running()
        pid = running[0] if running else None
        dns_text = f"dnsmasq on {net.host4}" + (f" (pid {pid})" if pid else "")
        if pid is None:
            orphans = dnsmasq.orphans()
            problems.append(
                f"dnsmasq is not running (orphaned dnsmasq {orphans} holds the bridge address;"
                " `atelier network setup` replaces it)"
                if orphans
                else "dnsmasq is not running"
            )
    else:
        try:
            dns_text = "host resolvers " + ", ".join(str(a) for a in net.guest_dns())
        except NetworkError as exc:
            dns_text = "host resolvers (none usable)"
            problems.append(exc.message)
    ports = await _ports(net, run, fw)
    problems += _port_problems(ports)
    allocations = await net.allocations()
    notes = [
        f"sandbox {a.sandbox_id} holds {a.ip} from the old subnet {a.subnet};"
        " it gets a new address when it next starts"
        for a in allocations
        if a.subnet != net.subnet
    ]
    return NetworkStatus(
        driver=net.name,
        bridge=net.bridge,
        bridge_exists=exists,
        bridge_up=up,
        addresses=tuple(addresses),
        firewall=net.firewall.name,
        rules=fw.present if fw else (),
        forwarding=forwarding,
        dns=dns_text,
        dns_pid=pid,
        ports=tuple(ports),
        allocations=tuple(allocations),
        problems=tuple(problems),
        notes=tuple(notes),
    )
