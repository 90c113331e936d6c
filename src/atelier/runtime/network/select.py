"""Choosing the network driver from the config and what the host offers, with the reason.

`auto` picks `bridge` when running as root with /dev/net/tun, iproute2, sysctl, a firewall
tool (nft, or iptables + ebtables) and dnsmasq (when `dns = "dnsmasq"`); otherwise `user`.
An explicitly configured driver is used as configured; when the host lacks something the
bridge driver needs, the reason says so and `setup` fails with the same explanation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from atelier.runtime.host import detect, proc
from atelier.runtime.network.base import AllocationRepository, Network
from atelier.runtime.network.bridge import BridgeNetwork
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.network.user import UserNetwork

TUN_DEVICE = Path("/dev/net/tun")
TOOLS = ("ip", "bridge", "sysctl", "nft", "iptables", "ebtables", "dnsmasq")


@dataclass(frozen=True)
class HostFacts:
    """What the bridge driver depends on."""

    root: bool
    tun: bool
    tools: Mapping[str, bool]

    @classmethod
    def probe(cls) -> HostFacts:
        """Look at this host."""
        return cls(
            root=detect.is_root(),
            tun=TUN_DEVICE.exists(),
            tools={tool: proc.which(tool) is not None for tool in TOOLS},
        )


def bridge_verdict(config: NetworkConfig, facts: HostFacts) -> detect.Verdict:
    """Whether the bridge driver can run here, and why (not)."""
    if not facts.root:
        return detect.Verdict(False, "not running as root (the bridge driver needs CAP_NET_ADMIN)")
    if not facts.tun:
        return detect.Verdict(False, f"{TUN_DEVICE} is missing (no TUN/TAP support)")
    missing = [t for t in ("ip", "bridge", "sysctl") if not facts.tools.get(t)]
    nft = facts.tools.get("nft", False)
    legacy = facts.tools.get("iptables", False) and facts.tools.get("ebtables", False)
    if config.firewall == "nftables" and not nft:
        missing.append("nft")
    elif config.firewall == "iptables" and not legacy:
        missing += [t for t in ("iptables", "ebtables") if not facts.tools.get(t)]
    elif not (nft or legacy):
        missing.append("nft (or iptables + ebtables)")
    if config.dns == "dnsmasq" and not facts.tools.get("dnsmasq"):
        missing.append("dnsmasq")
    if missing:
        return detect.Verdict(False, "missing host tools: " + ", ".join(missing))
    firewall = "nftables" if nft and config.firewall != "iptables" else "iptables + ebtables"
    return detect.Verdict(True, f"running as root with TUN/TAP, iproute2 and {firewall}")


def choose_driver(config: NetworkConfig, facts: HostFacts) -> tuple[str | None, str]:
    """(driver name or None for no networking, reason)."""
    if config.driver == "none":
        return None, "disabled by config (network.driver = none): sandboxes get no NIC"
    if config.driver == "user":
        return "user", "configured (network.driver = user)"
    verdict = bridge_verdict(config, facts)
    if config.driver == "bridge":
        suffix = "" if verdict.ok else f"; but {verdict.reason}"
        return "bridge", f"configured (network.driver = bridge){suffix}"
    if verdict.ok:
        return "bridge", f"auto: {verdict.reason}"
    return "user", f"auto: {verdict.reason}; using QEMU user networking"


def state_dir(run_dir: Path, config: NetworkConfig, netns: str | None = None) -> Path:
    """Where the bridge driver keeps pid files, sockets and restore state."""
    return run_dir / "network" / (f"{netns}.{config.bridge}" if netns else config.bridge)


def select_network(
    config: NetworkConfig,
    repo: AllocationRepository,
    *,
    run_dir: Path,
    allowed_host_ports: Sequence[int] = (),
    netns: str | None = None,
    facts: HostFacts | None = None,
    tap_owner: int | None = None,
) -> tuple[Network | None, str]:
    """The configured (or detected) driver, constructed, with the reason it was chosen.

    `tap_owner` is the uid that opens the TAPs when the VMM does not run as root (the
    Firecracker jailer's uid); `netns` runs the bridge driver inside that namespace.
    """
    name, reason = choose_driver(config, facts or HostFacts.probe())
    if name == "bridge":
        driver: Network = BridgeNetwork(
            config,
            repo,
            state_dir=state_dir(run_dir, config, netns),
            allowed_host_ports=allowed_host_ports,
            netns=netns,
            tap_owner=tap_owner,
        )
        return driver, reason
    if name == "user":
        return UserNetwork(config, repo, allowed_host_ports=allowed_host_ports), reason
    return None, reason
