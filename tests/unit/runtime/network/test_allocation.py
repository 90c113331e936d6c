"""The Allocation type: kernel parameters, agent config, claims, serialisation."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

from atelier.runtime.network.base import Allocation, Endpoint
from atelier.runtime.vmm.base import PortForward

BRIDGE = Allocation(
    sandbox_id="abcdefgh",
    driver="bridge",
    subnet=IPv4Network("172.16.0.0/24"),
    ip=IPv4Address("172.16.0.2"),
    gateway=IPv4Address("172.16.0.1"),
    mac="02:a7:ac:10:00:02",
    tap="atl-abcdefgh",
    subnet6=IPv6Network("fd00:a7e1::/64"),
    ip6=IPv6Address("fd00:a7e1::2"),
    gateway6=IPv6Address("fd00:a7e1::1"),
    dns=(IPv4Address("172.16.0.1"),),
    services_host="172.16.0.1",
)
USER = Allocation(
    sandbox_id="abcdefgh",
    driver="user",
    subnet=IPv4Network("10.0.2.0/24"),
    ip=IPv4Address("10.0.2.15"),
    gateway=IPv4Address("10.0.2.2"),
    mac="02:a8:00:00:00:01",
    services_host="10.0.2.100",
    forwards=(PortForward(20000, 22), PortForward(20001, 4096)),
)


def test_kernel_params_carry_everything_the_guest_init_reads() -> None:
    assert BRIDGE.kernel_params() == (
        "atelier.ip=172.16.0.2/24",
        "atelier.gw=172.16.0.1",
        "atelier.mac=02:a7:ac:10:00:02",
        "atelier.dns=172.16.0.1",
        "atelier.ip6=fd00:a7e1::2/64",
        "atelier.gw6=fd00:a7e1::1",
    )
    assert USER.kernel_params() == (
        "atelier.ip=10.0.2.15/24",
        "atelier.gw=10.0.2.2",
        "atelier.mac=02:a8:00:00:00:01",
    )


def test_agent_config_matches_the_kernel_params() -> None:
    assert BRIDGE.agent_config() == {
        "mac": "02:a7:ac:10:00:02",
        "ip": "172.16.0.2/24",
        "gateway": "172.16.0.1",
        "dns": ["172.16.0.1"],
        "ip6": "fd00:a7e1::2/64",
        "gateway6": "fd00:a7e1::1",
    }


def test_claims_name_every_unique_resource() -> None:
    assert BRIDGE.claims() == (
        "ip4:172.16.0.2",
        "mac:02:a7:ac:10:00:02",
        "tap:atl-abcdefgh",
        "ip6:fd00:a7e1::2",
    )
    assert USER.claims() == ("port:127.0.0.1:20000", "port:127.0.0.1:20001")


def test_dict_round_trip() -> None:
    for allocation in (BRIDGE, USER):
        assert Allocation.from_dict(allocation.to_dict()) == allocation
    assert BRIDGE.to_dict()["ip"] == "172.16.0.2"
    assert USER.host_port(4096) == 20001 and USER.host_port(80) is None
    assert str(BRIDGE.link_local6) == "fe80::a7:acff:fe10:2" and BRIDGE.prefix == 24


def test_endpoint_dial_strings_for_caddy() -> None:
    assert Endpoint("tcp", host="172.16.0.2", port=22).dial_string() == "172.16.0.2:22"
    assert Endpoint("tcp", host="fd00::2", port=22).dial_string() == "[fd00::2]:22"
    unix = Endpoint("unix", path=Path("/run/atelier/x.sock"))
    assert unix.dial_string() == "unix//run/atelier/x.sock"
    assert unix.to_dict()["dial"] == "unix//run/atelier/x.sock"
