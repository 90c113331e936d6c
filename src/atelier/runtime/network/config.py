"""Configuration section for sandbox networking (`network`).

Only the settings live here; derived values (host address, guest addresses, MACs) are
computed from them by `atelier.runtime.network.addressing` every time, never stored, so a
changed subnet changes every derived field with it.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from atelier.runtime.host.names import parse_tap

NetworkDriverName = Literal["auto", "bridge", "user", "none"]
FirewallName = Literal["auto", "nftables", "iptables"]

# Guest ports of the platform services: sshd, code-server, OpenCode, noVNC.
DEFAULT_SERVICE_PORTS = (22, 13337, 4096, 6080)


def _check_ports(value: list[int], field: str) -> list[int]:
    for port in value:
        if not 1 <= port <= 65535:
            raise ValueError(f"{field}: port {port} is outside 1-65535")
    if len(set(value)) != len(value):
        raise ValueError(f"{field}: ports must be unique, got {value}")
    return value


class NetworkConfig(BaseModel):
    """How sandboxes are attached to the network."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    driver: NetworkDriverName = Field("auto", description="auto: bridge as root, else user")
    bridge: str = Field("atl-br0", pattern=r"^atl-[a-z0-9-]{1,11}$")
    subnet: IPv4Network = Field(
        IPv4Network("172.16.0.0/24"),
        description="guest subnet; the bridge takes the first host address, guests the rest",
    )
    subnet6: IPv6Network | None = Field(
        IPv6Network("fd00:a7e1::/64"), description="ULA prefix for guests; null disables IPv6"
    )
    ipv6_egress: bool = Field(
        False,
        description="NAT66 guest IPv6 to the outside; sets net.ipv6.conf.all.forwarding=1,"
        " which stops the host accepting router advertisements on interfaces with accept_ra=1",
    )
    firewall: FirewallName = Field(
        "auto", description="auto: nftables when the nft tool exists, else iptables + ebtables"
    )
    dns: Literal["dnsmasq", "host"] = Field(
        "dnsmasq", description="dnsmasq on the bridge address, or copy the host's resolvers"
    )
    upstream_dns: list[IPv4Address | IPv6Address] = Field(
        default_factory=list, description="default: the host's resolv.conf"
    )
    guest_allowed_host_ports: list[int] = Field(
        default_factory=list, description="extra host ports guests may reach (caches are added)"
    )
    blocked_networks: list[IPv4Network | IPv6Network] = Field(
        default_factory=list,
        description="more networks guests may never reach (private, link-local and the host's"
        " own networks are always blocked)",
    )
    service_ports: list[int] = Field(
        default_factory=lambda: list(DEFAULT_SERVICE_PORTS),
        description="guest ports the user driver forwards to 127.0.0.1 for every sandbox",
    )
    user_ports_from: int = Field(20000, ge=1024, le=65535, description="user driver host ports")
    user_ports_to: int = Field(29999, ge=1024, le=65535)
    user_services_addr: IPv4Address = Field(
        IPv4Address("10.0.2.100"),
        description="guest-side address of forwarded host services under the user driver",
    )

    @field_validator("subnet")
    @classmethod
    def _subnet_size(cls, value: IPv4Network) -> IPv4Network:
        if value.prefixlen > 30:
            raise ValueError(f"subnet {value} is too small: use a prefix of /30 or shorter")
        return value

    @field_validator("subnet6")
    @classmethod
    def _subnet6_size(cls, value: IPv6Network | None) -> IPv6Network | None:
        if value is not None and value.prefixlen > 120:
            raise ValueError(f"subnet6 {value} is too small: use a prefix of /120 or shorter")
        return value

    @field_validator("bridge")
    @classmethod
    def _bridge_not_tap(cls, value: str) -> str:
        if parse_tap(value) is not None:
            raise ValueError(f"bridge {value!r} has the shape of a sandbox TAP name (atl-<id>)")
        return value

    @field_validator("guest_allowed_host_ports")
    @classmethod
    def _allowed_ports(cls, value: list[int]) -> list[int]:
        return _check_ports(value, "guest_allowed_host_ports")

    @field_validator("service_ports")
    @classmethod
    def _service_ports(cls, value: list[int]) -> list[int]:
        return _check_ports(value, "service_ports")

    @model_validator(mode="after")
    def _ranges(self) -> NetworkConfig:
        if self.user_ports_from > self.user_ports_to:
            raise ValueError(
                f"user_ports_from ({self.user_ports_from}) is above user_ports_to"
                f" ({self.user_ports_to})"
            )
        if self.subnet6 is not None:
            room6 = self.subnet6.num_addresses
            if room6 < self.subnet.num_addresses:
                raise ValueError(
                    f"subnet6 {self.subnet6} has fewer addresses than subnet {self.subnet}"
                )
        if self.user_services_addr not in IPv4Network("10.0.2.0/24") or int(
            self.user_services_addr
        ) & 0xFF in (0, 2, 3, 15, 255):
            raise ValueError(
                f"user_services_addr {self.user_services_addr} must be in QEMU's 10.0.2.0/24"
                " and not its network, gateway (.2), DNS (.3), guest (.15) or broadcast"
            )
        return self
