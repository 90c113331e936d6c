"""Memory snapshots: saving a running guest, and bringing a restored one back to itself.

`capture` saves a VM's memory and device state to a file; the VM is stopped afterwards (the
caller kills it and snapshots its volume, so disk and memory match). `reidentify` is the
first thing that runs in a guest resumed from a snapshot, in the order the agent protocol
documents: clock, entropy (clones of one snapshot share RNG state), agent token (the
snapshot holds the old one), then network (MAC, address, routes) and, for clones of a
prebuild, a new hostname, machine-id and SSH host keys.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.errors import AtelierError
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.agent.errors import AgentNotFound
from atelier.runtime.network.base import Allocation
from atelier.runtime.vmm.base import VmHandle, Vmm

log = logging.getLogger(__name__)

# VMM drivers whose snapshots Atelier restores (QEMU re-opens drives from its command line,
# so a restore can point at a fresh clone; Firecracker records drive paths in its snapshot).
MEMORY_SNAPSHOT_VMMS = ("qemu",)


@dataclass(frozen=True)
class Restore:
    """Resume a memory snapshot instead of booting.

    `token` is the agent token the snapshot's guest still holds. `new_identity` is set for
    clones of a prebuild (new hostname, machine-id, SSH host keys); a paused sandbox resumes
    as itself.
    """

    state_file: Path
    token: str
    new_identity: bool = True


def supports_memory_snapshots(vmm: Vmm) -> bool:
    """Whether Atelier restores this driver's memory snapshots."""
    return vmm.name in MEMORY_SNAPSHOT_VMMS


async def capture(vmm: Vmm, handle: VmHandle, state_file: Path) -> None:
    """Save the VM's memory and device state to `state_file`; the guest is stopped after.

    QEMU saves a running VM (the migration stops it at the end, consistent with its disks)
    so the restored VM starts running by itself; other drivers need a paused VM.
    """
    state_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if vmm.name != "qemu":
        await vmm.pause(handle)
    await vmm.snapshot(handle, state_file)
    with contextlib.suppress(OSError):
        state_file.chmod(0o600)


def guest_network(allocation: Allocation, interface: str) -> dict[str, Any]:
    """The agent's `network.configure` arguments for an allocation."""
    net: dict[str, Any] = {
        "interface": interface,
        "ip": f"{allocation.ip}/{allocation.prefix}",
        "gw": str(allocation.gateway),
        "dns": [str(a) for a in allocation.dns],
    }
    if allocation.ip6 is not None and allocation.subnet6 is not None:
        net["ip6"] = f"{allocation.ip6}/{allocation.subnet6.prefixlen}"
    if allocation.gateway6 is not None:
        net["gw6"] = str(allocation.gateway6)
    return net


async def guest_nic(client: AgentClient) -> str | None:
    """The guest's first device-backed network interface (eth0, ens3, …)."""
    for entry in await client.list_dir("/sys/class/net"):
        if entry.name == "lo":
            continue
        with contextlib.suppress(AgentNotFound):
            await client.stat(f"/sys/class/net/{entry.name}/device")
            return entry.name
    return None


# With arp_notify the kernel announces the new MAC (gratuitous ARP) when the link comes up:
# QEMU's user-mode network and bridges learned the snapshot's MAC and would keep sending there.
_SET_MAC = (
    'sysctl -q -w "net.ipv4.conf.$1.arp_notify=1" && ip link set dev "$1" down'
    ' && ip link set dev "$1" address "$2" && ip link set dev "$1" up'
)


async def set_mac(client: AgentClient, interface: str, mac: str) -> None:
    """Give the guest NIC the allocation's MAC (the snapshot carries the old one)."""
    current = await client.read_file(f"/sys/class/net/{interface}/address")
    if current.decode().strip().lower() == mac.lower():
        return
    argv = ["sh", "-c", _SET_MAC, "atelier-set-mac", interface, mac]
    done = await client.exec(argv, user="root", timeout=30)
    if done.exit_code != 0:
        raise AtelierError(
            f"cannot set MAC {mac} on {interface}: {done.stderr.decode(errors='replace').strip()}",
            code="guest_setup_failed",
        )


async def reidentify(
    client: AgentClient,
    *,
    token: str,
    hostname: str,
    sandbox_id: str,
    allocation: Allocation | None,
    new_identity: bool,
) -> dict[str, Any]:
    """Make a restored guest this sandbox: clock, entropy, token, network, identity."""
    await client.set_time()
    await client.reseed()
    await client.rotate_token(token)
    network = None
    if allocation is not None:
        interface = await guest_nic(client)
        if interface is None:
            raise AtelierError(
                "the restored guest has no network interface", code="guest_setup_failed"
            )
        await set_mac(client, interface, allocation.mac)
        network = guest_network(allocation, interface)
    if new_identity:
        return await client.refresh_identity(
            hostname=hostname, sandbox_id=sandbox_id, network=network
        )
    if network is not None:
        return {"network": await client.configure_network(**network)}
    return {}
