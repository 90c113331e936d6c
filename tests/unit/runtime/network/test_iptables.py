"""The iptables/ebtables fallback as argv data."""

from __future__ import annotations

from ipaddress import IPv4Address

from atelier.runtime.network import iptables as ipt
from tests.unit.runtime.network._data import port, spec


def test_owned_chains_and_their_jumps() -> None:
    assert ipt.l3_chains(spec()) == [
        ("iptables", "filter", "ATL-INPUT"),
        ("iptables", "filter", "ATL-FORWARD"),
        ("iptables", "nat", "ATL-POSTROUTING"),
        ("ip6tables", "filter", "ATL-INPUT"),
        ("ip6tables", "filter", "ATL-FORWARD"),
    ]
    assert ("ip6tables", "nat", "ATL-POSTROUTING") in ipt.l3_chains(spec(ipv6_egress=True))
    assert ipt.jumps(spec())[:3] == [
        ("iptables", "filter", "INPUT", ["-i", "atl-br0", "-j", "ATL-INPUT"]),
        ("iptables", "filter", "FORWARD", ["-j", "ATL-FORWARD"]),
        ("iptables", "nat", "POSTROUTING", ["-j", "ATL-POSTROUTING"]),
    ]


def test_input_chain_allows_only_the_bridge_address_and_ports() -> None:
    rules = ipt.l3_rules(spec(), "iptables", ipt.INPUT)
    assert rules == [
        ["-m", "comment", "--comment", spec().marker],
        ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        ["-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"],
        ["-d", "172.16.0.1", "-p", "tcp", "-m", "multiport", "--dports", "53,4873", "-j", "RETURN"],
        ["-d", "172.16.0.1", "-p", "udp", "-m", "multiport", "--dports", "53", "-j", "RETURN"],
        ["-d", "172.16.0.1", "-p", "icmp", "--icmp-type", "echo-request", "-j", "RETURN"],
        ["-j", "DROP"],
    ]
    rules6 = ipt.l3_rules(spec(), "ip6tables", ipt.INPUT)
    assert ["-d", "fd00:a7e1::1", "-p", "icmpv6", "--icmpv6-type", "echo-request", "-j",
            "RETURN"] in rules6  # fmt: skip
    assert [
        "-p", "icmpv6", "--icmpv6-type", "neighbour-solicitation", "-m", "hl", "--hl-eq", "255",
        "-j", "RETURN",
    ] in rules6  # fmt: skip


def test_more_than_fifteen_ports_are_split_across_multiport_rules() -> None:
    rules = ipt.l3_rules(spec(allowed_host_ports=range(5000, 5020)), "iptables", ipt.INPUT)
    groups = [r[r.index("--dports") + 1] for r in rules if "tcp" in r]
    assert [len(g.split(",")) for g in groups] == [15, 6]


def test_forward_chain_isolates_blocks_and_lets_replies_in() -> None:
    rules = ipt.l3_rules(spec(dns_forward=[IPv4Address("192.168.1.1")]), "iptables", ipt.FORWARD)
    assert rules[:6] == [
        ["-m", "comment", "--comment", spec(dns_forward=[IPv4Address("192.168.1.1")]).marker],
        ["-i", "atl-br0", "-o", "atl-br0", "-j", "DROP"],
        ["-o", "atl-br0", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        ["-o", "atl-br0", "-j", "DROP"],
        ["-i", "atl-br0", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"],
        ["-i", "atl-br0", "!", "-s", "172.16.0.0/24", "-j", "DROP"],
    ]
    dns = ["-i", "atl-br0", "-d", "192.168.1.1", "-p", "udp", "--dport", "53", "-j", "RETURN"]
    metadata = ["-i", "atl-br0", "-d", "169.254.0.0/16", "-j", "DROP"]
    assert rules.index(dns) < rules.index(metadata)
    # Without IPv6 egress every routed IPv6 packet from a guest is dropped.
    assert ipt.l3_rules(spec(), "ip6tables", ipt.FORWARD)[-1] == ["-i", "atl-br0", "-j", "DROP"]
    assert ipt.l3_rules(spec(), "iptables", ipt.POSTROUTING) == [
        ["-s", "172.16.0.0/24", "!", "-o", "atl-br0", "-j", "MASQUERADE"]
    ]


def test_port_chain_pins_mac_arp_and_addresses() -> None:
    assert ipt.eb_port_rules(port()) == [
        ["-s", "!", "02:a7:ac:10:00:02", "-j", "DROP"],
        ["-p", "ARP", "--arp-mac-src", "!", "02:a7:ac:10:00:02", "-j", "DROP"],
        ["-p", "ARP", "--arp-ip-src", "!", "172.16.0.2", "-j", "DROP"],
        ["-p", "ARP", "-j", "ACCEPT"],
        ["-p", "IPv4", "--ip-src", "!", "172.16.0.2", "-j", "DROP"],
        ["-p", "IPv4", "--ip-proto", "udp", "--ip-sport", "67", "-j", "DROP"],
        ["-p", "IPv4", "-j", "ACCEPT"],
        ["-p", "IPv6", "--ip6-proto", "ipv6-icmp", "--ip6-icmp-type", "router-advertisement",
         "-j", "DROP"],
        ["-p", "IPv6", "--ip6-proto", "ipv6-icmp", "--ip6-icmp-type", "redirect", "-j", "DROP"],
        ["-p", "IPv6", "--ip6-proto", "udp", "--ip6-sport", "547", "-j", "DROP"],
        ["-p", "IPv6", "--ip6-src", "fd00:a7e1::2", "-j", "ACCEPT"],
        ["-p", "IPv6", "--ip6-src", "fe80::a7:acff:fe10:2", "-j", "ACCEPT"],
        ["-p", "IPv6", "--ip6-src", "::", "--ip6-proto", "ipv6-icmp", "--ip6-icmp-type",
         "neighbour-solicitation", "-j", "ACCEPT"],
        ["-j", "DROP"],
    ]  # fmt: skip
    assert ipt.eb_ports_rules([port()]) == [
        ["-i", "atl-abcdefgh", "-j", "atl-port-abcdefgh"],
        ["-j", "DROP"],
    ]
    assert ipt.eb_forward_rules() == [["-i", "atl-+", "-o", "atl-+", "-j", "DROP"]]


def test_command_builders_wait_for_the_xtables_lock() -> None:
    assert ipt.append("iptables", "filter", "ATL-INPUT", ["-j", "DROP"]) == (
        "iptables",
        ["-w", "5", "-t", "filter", "-A", "ATL-INPUT", "-j", "DROP"],
    )
    assert ipt.insert_first("ebtables", "nat", "PREROUTING", ["-j", "ATL-PORTS"]) == (
        "ebtables",
        ["-t", "nat", "-I", "PREROUTING", "1", "-j", "ATL-PORTS"],
    )
    assert ipt.list_chain("ebtables", "nat", "ATL-PORTS")[1][-2:] == ["-L", "ATL-PORTS"]
    assert ipt.list_chain("iptables", "nat", "X")[1][-2:] == ["-S", "X"]
