"""The `network` config section's validation."""

from __future__ import annotations

import pydantic
import pytest

from atelier.runtime.network.config import NetworkConfig


def test_defaults() -> None:
    config = NetworkConfig()
    assert (config.driver, config.bridge, str(config.subnet)) == (
        "auto",
        "atl-br0",
        "172.16.0.0/24",
    )
    assert config.service_ports == [22, 13337, 4096, 6080]
    assert not config.ipv6_egress and config.firewall == "auto"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"bridge": "atl-abcdefgh"}, "shape of a sandbox TAP name"),
        ({"bridge": "br0"}, "String should match pattern"),
        ({"subnet": "172.16.0.0/31"}, "too small"),
        ({"subnet6": "fd00::/124"}, "too small"),
        ({"guest_allowed_host_ports": [0]}, "outside 1-65535"),
        ({"service_ports": [22, 22]}, "must be unique"),
        ({"user_ports_from": 30000, "user_ports_to": 20000}, "above user_ports_to"),
        ({"user_services_addr": "10.0.2.2"}, "user_services_addr"),
        ({"user_services_addr": "192.168.0.5"}, "user_services_addr"),
        ({"subnet": "10.0.0.0/8", "subnet6": "fd00::/120"}, "fewer addresses"),
        ({"upstream_dns": ["not-an-ip"]}, "upstream_dns"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_values_are_rejected(values: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        NetworkConfig(**values)


def test_config_is_frozen() -> None:
    with pytest.raises(pydantic.ValidationError):
        NetworkConfig().bridge = "atl-br1"  # type: ignore[misc]
