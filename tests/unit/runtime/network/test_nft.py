"""nftables scripts: golden text for fixed policies, and the listing parsers."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from atelier.runtime.network import nft
from tests.unit.runtime.network._data import SANDBOX, port, spec

GOLDEN = Path(__file__).parent / "golden"

CASES: dict[str, Callable[[], str]] = {
    "inet_default.nft": lambda: nft.inet_script(spec()),
    "inet_egress6_hostdns.nft": lambda: nft.inet_script(
        spec(
            ipv6_egress=True,
            dns_on_host=False,
            dns_forward=[IPv4Address("192.168.1.1")],
            allowed_host_ports=[4873, 3141],
        )
    ),
    "bridge.nft": nft.bridge_script,
    "port.nft": lambda: nft.port_script(port()),
    "port_remove.nft": lambda: nft.port_remove_script(SANDBOX, f"atl-{SANDBOX}"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_scripts_match_golden_files(name: str) -> None:
    assert CASES[name]() == (GOLDEN / name).read_text()


def test_inet_table_is_tagged_with_the_spec_digest() -> None:
    script = nft.inet_script(spec())
    assert f'comment "{spec().marker}"' in script
    assert spec().marker != spec(allowed_host_ports=[4874]).marker
    assert nft.marker(script) == spec().marker


def test_without_ipv6_egress_guests_get_no_ipv6_forwarding() -> None:
    script = nft.inet_script(spec())
    assert "meta nfproto ipv6 counter drop" in script
    assert "ip6 saddr fd00:a7e1::/64" not in script  # no NAT66


def test_listing_parsers() -> None:
    tables = {
        "nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "inet", "name": "atelier", "handle": 1}},
            {"table": {"family": "ip", "name": "filter", "handle": 2}},
            {"table": {"family": "bridge", "name": "atelier", "handle": 3}},
        ]
    }
    assert nft.tables(tables) == {"inet", "bridge"}
    assert nft.tables(None) == set()
    ports = {
        "nftables": [
            {
                "map": {
                    "name": "ports",
                    "elem": [["atl-abcdefgh", {"goto": {"target": "atl-port-abcdefgh"}}]],
                }
            }
        ]
    }
    assert nft.mapped_ports(ports) == {"atl-abcdefgh": "atl-port-abcdefgh"}
    assert nft.mapped_ports({"nftables": [{"map": {"name": "ports"}}]}) == {}
    assert nft.marker('table inet atelier {\n\tcomment "atelier:abc"\n}') == "atelier:abc"
    assert nft.marker("table inet atelier {\n}") is None


def test_delete_script_names_each_family() -> None:
    assert nft.delete_script(["bridge", "inet"]) == (
        "delete table bridge atelier\ndelete table inet atelier\n"
    )
