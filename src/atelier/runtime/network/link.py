"""Links, addresses, neighbours and sysctls of the bridge driver, through `ip` and `sysctl`.

Each `ensure_*` reads the current state first and changes only what differs, returning
what it changed in words, so `setup` is idempotent and can say what it did.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any

from atelier.runtime.network.runner import Runner

Interface = IPv4Interface | IPv6Interface


async def link(runner: Runner, name: str) -> dict[str, Any] | None:
    """`ip -d link show dev <name>` as JSON, or None when the link does not exist."""
    found = await runner.json("ip", "-j", "-d", "link", "show", "dev", name)
    return found[0] if found else None


def kind(info: dict[str, Any]) -> str | None:
    """The link kind (`bridge`, `tun`, `veth`, …)."""
    return (info.get("linkinfo") or {}).get("info_kind")


def is_up(info: dict[str, Any]) -> bool:
    """True when the link is administratively up."""
    return "UP" in info.get("flags", [])


def is_isolated(info: dict[str, Any]) -> bool:
    """True when the bridge port is isolated from the other ports."""
    return bool(((info.get("linkinfo") or {}).get("info_slave_data") or {}).get("isolated"))


async def links(runner: Runner) -> list[dict[str, Any]]:
    """Every link of the namespace, with details."""
    return list(await runner.json("ip", "-j", "-d", "link", "show") or [])


async def global_addresses(runner: Runner, dev: str | None = None) -> list[Interface]:
    """Non-link-local addresses, of one device or of all."""
    args = ["-j", "addr", "show"] + (["dev", dev] if dev else [])
    found: list[Interface] = []
    for entry in await runner.json("ip", *args) or []:
        for addr in entry.get("addr_info", []):
            if addr.get("scope") == "link" or addr.get("family") not in ("inet", "inet6"):
                continue
            iface = f"{addr['local']}/{addr['prefixlen']}"
            found.append(IPv4Interface(iface) if addr["family"] == "inet" else IPv6Interface(iface))
    return found


async def host_addresses(runner: Runner, exclude_dev: str) -> list[tuple[str, int]]:
    """(address, prefix) of every global address not on `exclude_dev`."""
    found = []
    for entry in await runner.json("ip", "-j", "addr", "show") or []:
        if entry.get("ifname") == exclude_dev:
            continue
        for addr in entry.get("addr_info", []):
            if addr.get("scope") != "link" and addr.get("family") in ("inet", "inet6"):
                found.append((addr["local"], int(addr["prefixlen"])))
    return found


async def ensure_bridge(runner: Runner, name: str, mac: str) -> list[str]:
    """A bridge with a fixed MAC, STP off, up."""
    changes = []
    info = await link(runner, name)
    if info is not None and kind(info) != "bridge":
        raise ValueError(f"{name} exists but is a {kind(info)} link, not a bridge")
    if info is None:
        await runner.run("ip", "link", "add", "name", name, "address", mac,
                         "type", "bridge", "stp_state", "0")  # fmt: skip
        changes.append(f"created bridge {name}")
        info = await link(runner, name)
    elif info.get("address") != mac:
        await runner.run("ip", "link", "set", "dev", name, "address", mac)
        changes.append(f"set bridge {name} address {mac}")
    if info is None or not is_up(info):
        await runner.run("ip", "link", "set", "dev", name, "up")
        changes.append(f"brought {name} up")
    return changes


async def ensure_addresses(runner: Runner, dev: str, wanted: Iterable[Interface]) -> list[str]:
    """Exactly `wanted` as the device's global addresses (others removed)."""
    want = list(wanted)
    have = await global_addresses(runner, dev)
    changes = []
    for iface in have:
        if iface not in want:
            await runner.run("ip", "addr", "del", str(iface), "dev", dev)
            changes.append(f"removed address {iface} from {dev}")
    for iface in want:
        if iface not in have:
            extra = ["nodad"] if isinstance(iface, IPv6Interface) else []
            await runner.run("ip", "addr", "add", str(iface), "dev", dev, *extra)
            changes.append(f"added address {iface} to {dev}")
    return changes


def _slave(info: dict[str, Any]) -> dict[str, Any]:
    return dict((info.get("linkinfo") or {}).get("info_slave_data") or {})


async def ensure_tap(
    runner: Runner, tap: str, bridge: str, mac: str, owner: int | None
) -> list[str]:
    """A TAP on `bridge`: isolated, no learning or unknown-unicast flooding, the guest's MAC
    as a static forwarding entry (so frames for one guest are never flooded to others), up.
    """
    changes = []
    info = await link(runner, tap)
    if info is not None and kind(info) != "tun":
        raise ValueError(f"{tap} exists but is a {kind(info)} link, not a TAP")
    if info is None:
        user = ["user", str(owner)] if owner is not None else []
        await runner.run("ip", "tuntap", "add", "dev", tap, "mode", "tap", *user)
        changes.append(f"created TAP {tap}")
        info = await link(runner, tap)
    if info is None or info.get("master") != bridge:
        await runner.run("ip", "link", "set", "dev", tap, "master", bridge)
        info = None
    slave = _slave(info) if info is not None else {}
    if not slave.get("isolated") or slave.get("learning") or slave.get("flood"):
        await runner.run("ip", "link", "set", "dev", tap, "type", "bridge_slave",
                         "isolated", "on", "learning", "off", "flood", "off")  # fmt: skip
    for entry in await runner.json("bridge", "-j", "fdb", "show", "brport", tap) or []:
        if entry.get("state") == "static" and entry.get("mac") != mac:  # an old guest MAC
            await runner.run("bridge", "fdb", "del", entry["mac"], "dev", tap, "master")
    await runner.run("bridge", "fdb", "replace", mac, "dev", tap, "master", "static")
    if info is None or not is_up(info):
        await runner.run("ip", "link", "set", "dev", tap, "up")
    return changes


async def delete_link(runner: Runner, name: str) -> bool:
    """Delete a link; False when it did not exist."""
    if await link(runner, name) is None:
        return False
    await runner.run("ip", "link", "del", "dev", name)
    return True


async def pin_neighbour(
    runner: Runner, dev: str, address: IPv4Address | IPv6Address, mac: str
) -> None:
    """A permanent neighbour entry, so no ARP/ND reply can redirect the host's traffic."""
    await runner.run("ip", "neigh", "replace", str(address), "lladdr", mac,
                     "dev", dev, "nud", "permanent")  # fmt: skip


async def unpin_neighbour(runner: Runner, dev: str, address: IPv4Address | IPv6Address) -> None:
    """Remove a neighbour entry; no error when it is gone."""
    await runner.run("ip", "neigh", "del", str(address), "dev", dev, check=False)


async def sysctl(runner: Runner, key: str) -> str | None:
    """A sysctl value, or None when the key does not exist."""
    done = await runner.run("sysctl", "-n", key, check=False)
    return done.text.strip() if done.returncode == 0 else None


async def ensure_sysctl(runner: Runner, key: str, value: str) -> str | None:
    """Set a sysctl; returns the previous value when it changed, else None."""
    before = await sysctl(runner, key)
    if before == value:
        return None
    await runner.run("sysctl", "-q", "-w", f"{key}={value}")
    return before if before is not None else ""
