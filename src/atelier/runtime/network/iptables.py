"""The iptables/ip6tables/ebtables fallback for hosts without the nft tool, as argv data.

Same policy as `nft.py`, in chains Atelier owns (`ATL-…`, `atl-port-<id>`) reached by one
jump each from the built-in chains, so teardown deletes the jumps and the chains and
nothing else. Atelier's chains only drop or RETURN (never ACCEPT), so the host's own
rules still apply to what they let through, as with the nft tables. Differences from
nftables: no check of the target address of IPv6 neighbour advertisements (the permanent
neighbour entries the bridge driver adds protect the host's cache instead).

Every function returns `(tool, args)` pairs; nothing here runs anything.
"""

from __future__ import annotations

from atelier.runtime.network.policy import PortSpec, RulesSpec

Command = tuple[str, list[str]]

INPUT = "ATL-INPUT"
FORWARD = "ATL-FORWARD"
POSTROUTING = "ATL-POSTROUTING"
EB_PORTS = "ATL-PORTS"
EB_FORWARD = "ATL-FORWARD"
PORT_GLOB = "atl-+"
_MULTIPORT_MAX = 15
_ND = ("neighbour-solicitation", "neighbour-advertisement", "router-solicitation")


def _ports(ports: tuple[int, ...]) -> list[str]:
    return [
        ",".join(str(p) for p in ports[i : i + _MULTIPORT_MAX])
        for i in range(0, len(ports), _MULTIPORT_MAX)
    ]


def l3_chains(spec: RulesSpec) -> list[tuple[str, str, str]]:
    """(tool, table, chain) for every L3 chain Atelier owns under this spec."""
    tools = ["iptables", "ip6tables"] if spec.subnet6 is not None else ["iptables"]
    chains = []
    for tool in tools:
        chains += [(tool, "filter", INPUT), (tool, "filter", FORWARD)]
        if tool == "iptables" or spec.ipv6_egress:
            chains.append((tool, "nat", POSTROUTING))
    return chains


def jumps(spec: RulesSpec) -> list[tuple[str, str, str, list[str]]]:
    """(tool, table, built-in chain, rule) jumping into each owned L3 chain."""
    found = []
    for tool, table, chain in l3_chains(spec):
        if chain == INPUT:
            found.append((tool, table, "INPUT", ["-i", spec.bridge, "-j", INPUT]))
        elif chain == FORWARD:
            found.append((tool, table, "FORWARD", ["-j", FORWARD]))
        else:
            found.append((tool, table, "POSTROUTING", ["-j", POSTROUTING]))
    return found


def _input_rules(spec: RulesSpec, v6: bool) -> list[list[str]]:
    host = str(spec.host6 if v6 else spec.host4)
    icmp = ["-p", "icmpv6", "--icmpv6-type"] if v6 else ["-p", "icmp", "--icmp-type"]
    rules = [
        ["-m", "comment", "--comment", spec.marker],
        ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        ["-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"],
    ]
    for proto, ports in (("tcp", spec.tcp_ports), ("udp", spec.udp_ports)):
        for group in _ports(ports):
            rules.append(["-d", host, "-p", proto, "-m", "multiport", "--dports", group,
                          "-j", "RETURN"])  # fmt: skip
    rules.append(["-d", host, *icmp, "echo-request", "-j", "RETURN"])
    if v6:
        for kind in _ND:
            rules.append([*icmp, kind, "-m", "hl", "--hl-eq", "255", "-j", "RETURN"])
    rules.append(["-j", "DROP"])
    return rules


def _forward_rules(spec: RulesSpec, v6: bool) -> list[list[str]]:
    br = spec.bridge
    rules = [
        ["-m", "comment", "--comment", spec.marker],
        ["-i", br, "-o", br, "-j", "DROP"],
        ["-o", br, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        ["-o", br, "-j", "DROP"],
    ]
    if v6 and not spec.ipv6_egress:
        return [*rules, ["-i", br, "-j", "DROP"]]
    subnet = str(spec.subnet6 if v6 else spec.subnet)
    rules += [
        ["-i", br, "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"],
        ["-i", br, "!", "-s", subnet, "-j", "DROP"],
    ]
    for server in spec.dns_forward:
        if (server.version == 6) == v6:
            for proto in ("udp", "tcp"):
                rules.append(["-i", br, "-d", str(server), "-p", proto, "--dport", "53",
                              "-j", "RETURN"])  # fmt: skip
    for net in spec.blocked6 if v6 else spec.blocked4:
        rules.append(["-i", br, "-d", str(net), "-j", "DROP"])
    return rules


def l3_rules(spec: RulesSpec, tool: str, chain: str) -> list[list[str]]:
    """The rules of one owned L3 chain, in order (without `-A <chain>`)."""
    v6 = tool == "ip6tables"
    if chain == INPUT:
        return _input_rules(spec, v6)
    if chain == FORWARD:
        return _forward_rules(spec, v6)
    subnet = str(spec.subnet6 if v6 else spec.subnet)
    return [["-s", subnet, "!", "-o", spec.bridge, "-j", "MASQUERADE"]]


def eb_base() -> list[tuple[str, str, str, list[str]]]:
    """(table, owned chain, built-in chain, jump rule) of the L2 base chains."""
    return [
        ("nat", EB_PORTS, "PREROUTING", ["-i", PORT_GLOB, "-j", EB_PORTS]),
        ("filter", EB_FORWARD, "FORWARD", ["-j", EB_FORWARD]),
    ]


def eb_forward_rules() -> list[list[str]]:
    """Rules of the L2 forward chain: no frames from one sandbox TAP to another."""
    return [["-i", PORT_GLOB, "-o", PORT_GLOB, "-j", "DROP"]]


def eb_ports_rules(ports: list[PortSpec]) -> list[list[str]]:
    """Rules of the port dispatch chain: each TAP to its chain, unknown TAPs dropped."""
    return [*[["-i", p.tap, "-j", p.chain] for p in ports], ["-j", "DROP"]]


def eb_port_rules(port: PortSpec) -> list[list[str]]:
    """Rules of one TAP's chain: MAC, ARP and IP sources pinned; everything else dropped."""
    mac, ip4 = port.mac, str(port.ip4)
    icmp6 = ["-p", "IPv6", "--ip6-proto", "ipv6-icmp", "--ip6-icmp-type"]
    rules = [
        ["-s", "!", mac, "-j", "DROP"],
        ["-p", "ARP", "--arp-mac-src", "!", mac, "-j", "DROP"],
        ["-p", "ARP", "--arp-ip-src", "!", ip4, "-j", "DROP"],
        ["-p", "ARP", "-j", "ACCEPT"],
        ["-p", "IPv4", "--ip-src", "!", ip4, "-j", "DROP"],
        ["-p", "IPv4", "--ip-proto", "udp", "--ip-sport", "67", "-j", "DROP"],
        ["-p", "IPv4", "-j", "ACCEPT"],
        [*icmp6, "router-advertisement", "-j", "DROP"],
        [*icmp6, "redirect", "-j", "DROP"],
        ["-p", "IPv6", "--ip6-proto", "udp", "--ip6-sport", "547", "-j", "DROP"],
    ]
    rules += [["-p", "IPv6", "--ip6-src", str(a), "-j", "ACCEPT"] for a in port.sources6]
    # Duplicate address detection probes come from the unspecified address.
    rules.append(["-p", "IPv6", "--ip6-src", "::", *icmp6[2:], "neighbour-solicitation",
                  "-j", "ACCEPT"])  # fmt: skip
    rules.append(["-j", "DROP"])
    return rules


def create_chain(tool: str, table: str, chain: str) -> Command:
    """Create an owned chain."""
    return tool, [*_lock(tool), "-t", table, "-N", chain]


def flush_chain(tool: str, table: str, chain: str) -> Command:
    """Empty an owned chain."""
    return tool, [*_lock(tool), "-t", table, "-F", chain]


def delete_chain(tool: str, table: str, chain: str) -> Command:
    """Delete an (empty, unreferenced) owned chain."""
    return tool, [*_lock(tool), "-t", table, "-X", chain]


def list_chain(tool: str, table: str, chain: str) -> Command:
    """List an owned chain (exit 0 when it exists)."""
    flag = "-L" if tool == "ebtables" else "-S"
    return tool, [*_lock(tool), "-t", table, flag, chain]


def append(tool: str, table: str, chain: str, rule: list[str]) -> Command:
    """Append a rule to a chain."""
    return tool, [*_lock(tool), "-t", table, "-A", chain, *rule]


def insert_first(tool: str, table: str, chain: str, rule: list[str]) -> Command:
    """Insert a rule at the top of a chain."""
    return tool, [*_lock(tool), "-t", table, "-I", chain, "1", *rule]


def delete_rule(tool: str, table: str, chain: str, rule: list[str]) -> Command:
    """Delete one copy of a rule."""
    return tool, [*_lock(tool), "-t", table, "-D", chain, *rule]


def _lock(tool: str) -> list[str]:
    # iptables waits for the xtables lock instead of failing; ebtables has no such flag.
    return [] if tool == "ebtables" else ["-w", "5"]
