"""nftables scripts for the isolation policy, built from data by pure functions.

Atelier owns one table name, `atelier`, in two families, so teardown is `delete table`:

- `inet atelier` (L3, from `RulesSpec`): guest-to-host only to the bridge address on the
  allowed ports; no forwarding between guests, to blocked networks, or from outside into
  guests; masquerade for the rest. Tagged with the spec's digest so setup is idempotent.
- `bridge atelier` (L2): frames from an `atl-*` port go to that TAP's chain (through the
  `ports` verdict map) and are dropped unless their MAC, ARP sender and IP source match
  the sandbox's; ports with no chain get nothing through. Port-to-port forwarding is
  dropped as well (on top of `isolated on`). None of this needs br_netfilter.

Each script is applied with `nft -f -` as one atomic transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv6Address
from typing import Any

from atelier.runtime.host import names
from atelier.runtime.network.policy import RULES_VERSION, PortSpec, RulesSpec

TABLE = names.NFT_TABLE
PORT_GLOB = f"{names.PREFIX}-*"
BRIDGE_MARKER = f"atelier:bridge-v{RULES_VERSION}"
_MARKER_RE = re.compile(r'comment "(atelier:[^"]*)"')


def _set(values: Iterable[object]) -> str:
    return "{ " + ", ".join(str(v) for v in values) + " }"


def _named_set(name: str, kind: str, values: Iterable[object], interval: bool = False) -> list[str]:
    items = list(values)
    lines = [f"\tset {name} {{", f"\t\ttype {kind}"]
    if interval:
        lines.append("\t\tflags interval")
    if items:
        lines.append(f"\t\telements = {_set(items)}")
    return [*lines, "\t}"]


def _replace_table(family: str, body: list[str]) -> str:
    # "add" first so the "delete" cannot fail on a missing table: one atomic replacement.
    name = f"{family} {TABLE}"
    head = [f"table {name}", f"delete table {name}", f"table {name} {{"]
    return "\n".join([*head, *body, "}"]) + "\n"


def _guest_to_host(spec: RulesSpec) -> list[str]:
    lines = [
        "\tchain guest_to_host {",
        "\t\tct state established,related accept",
        "\t\tct state invalid drop",
        f"\t\tip daddr {spec.host4} tcp dport @guest_tcp_ports accept",
        f"\t\tip daddr {spec.host4} udp dport @guest_udp_ports accept",
        f"\t\tip daddr {spec.host4} icmp type echo-request accept",
    ]
    if spec.host6 is not None:
        lines += [
            f"\t\tip6 daddr {spec.host6} tcp dport @guest_tcp_ports accept",
            f"\t\tip6 daddr {spec.host6} udp dport @guest_udp_ports accept",
            f"\t\tip6 daddr {spec.host6} icmpv6 type echo-request accept",
        ]
    lines += [
        "\t\tip6 hoplimit 255 icmpv6 type"
        " { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept",
        "\t\tcounter drop",
        "\t}",
    ]
    return lines


def _guest_out(spec: RulesSpec) -> list[str]:
    dns4 = [a for a in spec.dns_forward if a.version == 4]
    dns6 = [a for a in spec.dns_forward if a.version == 6]
    lines = [
        "\tchain guest_out {",
        f'\t\toifname "{spec.bridge}" counter drop',
        "\t\tct state invalid drop",
        f"\t\tip saddr != {spec.subnet} drop",
    ]
    if dns4:
        lines.append("\t\tip daddr @dns4 meta l4proto { tcp, udp } th dport 53 accept")
    lines.append("\t\tip daddr @blocked4 counter drop")
    if spec.ipv6_egress and spec.subnet6 is not None:
        lines.append(f"\t\tip6 saddr != {spec.subnet6} drop")
        if dns6:
            lines.append("\t\tip6 daddr @dns6 meta l4proto { tcp, udp } th dport 53 accept")
        lines.append("\t\tip6 daddr @blocked6 counter drop")
    else:
        lines.append("\t\tmeta nfproto ipv6 counter drop")
    return [*lines, "\t}"]


def inet_script(spec: RulesSpec) -> str:
    """Replace `table inet atelier` with the L3 policy of `spec`, atomically."""
    br = spec.bridge
    body = [f'\tcomment "{spec.marker}"']
    body += _named_set("guest_tcp_ports", "inet_service", spec.tcp_ports)
    body += _named_set("guest_udp_ports", "inet_service", spec.udp_ports)
    body += _named_set("blocked4", "ipv4_addr", spec.blocked4, interval=True)
    body += _named_set("blocked6", "ipv6_addr", spec.blocked6, interval=True)
    dns4 = [a for a in spec.dns_forward if a.version == 4]
    dns6 = [a for a in spec.dns_forward if a.version == 6]
    if dns4:
        body += _named_set("dns4", "ipv4_addr", dns4)
    if dns6:
        body += _named_set("dns6", "ipv6_addr", dns6)
    body += [
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy accept;",
        f'\t\tiifname "{br}" jump guest_to_host',
        "\t}",
        *_guest_to_host(spec),
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy accept;",
        f'\t\tiifname "{br}" jump guest_out',
        f'\t\toifname "{br}" jump guest_in',
        "\t}",
        *_guest_out(spec),
        "\tchain guest_in {",
        "\t\tct state established,related accept",
        "\t\tcounter drop",
        "\t}",
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority srcnat; policy accept;",
        f'\t\tip saddr {spec.subnet} oifname != "{br}" masquerade',
    ]
    if spec.ipv6_egress and spec.subnet6 is not None:
        body.append(f'\t\tip6 saddr {spec.subnet6} oifname != "{br}" masquerade')
    body.append("\t}")
    return _replace_table("inet", body)


def bridge_script() -> str:
    """Replace `table bridge atelier` with an empty port map and the L2 base chains."""
    body = [
        f'\tcomment "{BRIDGE_MARKER}"',
        "\tmap ports {",
        "\t\ttype ifname : verdict",
        "\t}",
        "\tchain prerouting {",
        "\t\ttype filter hook prerouting priority filter; policy accept;",
        f'\t\tiifname != "{PORT_GLOB}" accept',
        "\t\tiifname vmap @ports",
        "\t\tcounter drop",
        "\t}",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy accept;",
        f'\t\tiifname "{PORT_GLOB}" oifname "{PORT_GLOB}" counter drop',
        "\t}",
    ]
    return _replace_table("bridge", body)


def _hex128(address: IPv6Address) -> str:
    return f"0x{int(address):032x}"


def port_rules(port: PortSpec) -> list[str]:
    """The rules of a TAP's chain, in order (also shown by `status`)."""
    sources6 = port.sources6
    return [
        f"ether saddr != {port.mac} drop",
        f"arp saddr ether != {port.mac} drop",
        f"arp saddr ip != {port.ip4} drop",
        f"ip saddr != {port.ip4} drop",
        # DAD probes and MLD reports come from the unspecified address.
        "ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld2-listener-report } accept",
        f"ip6 saddr != {_set(sources6)} drop",
        # A neighbour advertisement may only announce the guest's own addresses
        # (the target address sits 8 bytes into the ICMPv6 header).
        f"icmpv6 type nd-neighbor-advert @th,64,128 != {_set(_hex128(a) for a in sources6)} drop",
        "icmpv6 type { nd-router-advert, nd-redirect } drop",
        "udp sport { 67, 547 } drop",
        "ether type { ip, ip6, arp } accept",
        "drop",
    ]


def port_script(port: PortSpec) -> str:
    """Create or replace a TAP's chain and map the TAP to it, atomically."""
    chain = f"bridge {TABLE} {port.chain}"
    lines = [f"add chain {chain}", f"flush chain {chain}"]
    lines += [f"add rule {chain} {rule}" for rule in port_rules(port)]
    lines.append(f'add element bridge {TABLE} ports {{ "{port.tap}" : goto {port.chain} }}')
    return "\n".join(lines) + "\n"


def port_remove_script(sandbox_id: str, tap: str) -> str:
    """Remove a TAP's chain and map entry; succeeds whether or not they exist."""
    chain_name = names.port_chain(sandbox_id)
    chain = f"bridge {TABLE} {chain_name}"
    element = f'bridge {TABLE} ports {{ "{tap}" : goto {chain_name} }}'
    return (
        "\n".join(
            [
                f"add chain {chain}",
                f"add element {element}",
                f'delete element bridge {TABLE} ports {{ "{tap}" }}',
                f"flush chain {chain}",
                f"delete chain {chain}",
            ]
        )
        + "\n"
    )


def delete_script(families: Iterable[str]) -> str:
    """Delete Atelier's table in each of `families`."""
    return "".join(f"delete table {family} {TABLE}\n" for family in families)


def tables(listing: Any) -> set[str]:
    """Families in which `nft -j list tables` shows an `atelier` table."""
    found = set()
    for item in (listing or {}).get("nftables", []):
        table = item.get("table")
        if table and table.get("name") == TABLE:
            found.add(table["family"])
    return found


def marker(listing_text: str) -> str | None:
    """The `atelier:…` comment of a table from `nft list table` text."""
    match = _MARKER_RE.search(listing_text)
    return match[1] if match else None


def mapped_ports(listing: Any) -> dict[str, str]:
    """TAP → chain from `nft -j list map bridge atelier ports`."""
    found: dict[str, str] = {}
    for item in (listing or {}).get("nftables", []):
        for elem in (item.get("map") or {}).get("elem", []) or []:
            if isinstance(elem, list) and len(elem) == 2:
                verdict = elem[1]
                target = (verdict.get("goto") or verdict.get("jump") or {}).get("target")
                if isinstance(elem[0], str) and target:
                    found[elem[0]] = target
    return found
