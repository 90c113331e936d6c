"""Configuration section for sandbox networking (`network`)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NetworkDriverName = Literal["auto", "bridge", "user", "none"]


class NetworkConfig(BaseModel):
    """How sandboxes are attached to the network."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    driver: NetworkDriverName = Field("auto", description="auto: bridge as root, else user")
    bridge: str = Field("atl-br0", pattern=r"^atl-[a-z0-9-]{1,11}$")
    subnet: IPv4Network = IPv4Network("172.16.0.0/24")
    subnet6: IPv6Network | None = Field(
        IPv6Network("fd00:a7e1::/64"), description="ULA prefix for guests; null disables IPv6"
    )
    dns: Literal["dnsmasq", "host"] = Field(
        "dnsmasq", description="dnsmasq on the bridge address, or copy the host's resolvers"
    )
    upstream_dns: list[str] = Field(default_factory=list, description="default: host resolv.conf")
    guest_allowed_host_ports: list[int] = Field(
        default_factory=list, description="extra host ports guests may reach (caches are added)"
    )
