"""Memory snapshots: saving a running guest, and bringing a restored one back to itself.

`capture` saves a VM's memory and device state to a file; the VM is stopped afterwards (the
caller kills it and snapshots its volume, so disk and memory match). `reidentify` is the
first thing that runs in a guest resumed from a snapshot, in the order the agent protocol
documents: clock, entropy (clones of one snapshot share RNG state), agent token (the
snapshot holds the old one), then network (MAC, address, routes) and, for clones of a
prebuild, a new hostname, machine-id and SSH host keys (made on the host: ssh-keygen under
TCG takes seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
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
# One shell and one `ip -batch` do the whole renumbering (process starts are dear under TCG).
_RENUMBER = 'sysctl -q -w "net.ipv4.conf.$1.arp_notify=1" && exec ip -batch -'
SSH_KEY_DIR = "/etc/ssh"


def renumber_batch(interface: str, allocation: Allocation, *, new_mac: bool) -> str:
    """The `ip -batch` lines that give `interface` the allocation's MAC, addresses and routes."""
    lines = []
    if new_mac:
        lines += [
            f"link set dev {interface} down",
            f"link set dev {interface} address {allocation.mac}",
        ]
    lines += [f"link set dev {interface} up", f"addr flush dev {interface} scope global"]
    lines.append(f"addr add {allocation.ip}/{allocation.prefix} dev {interface}")
    if allocation.ip6 is not None and allocation.subnet6 is not None:
        lines.append(
            f"addr add {allocation.ip6}/{allocation.subnet6.prefixlen} dev {interface} nodad"
        )
    lines.append(f"route replace default via {allocation.gateway} dev {interface}")
    if allocation.gateway6 is not None:
        lines.append(f"route replace default via {allocation.gateway6} dev {interface}")
    return "\n".join(lines) + "\n"


async def renumber(client: AgentClient, allocation: Allocation) -> str:
    """Give the restored guest the allocation's MAC, address, routes and resolvers."""
    interface = await guest_nic(client)
    if interface is None:
        raise AtelierError("the restored guest has no network interface", code="guest_setup_failed")
    current = await client.read_file(f"/sys/class/net/{interface}/address")
    new_mac = current.decode().strip().lower() != allocation.mac.lower()
    batch = renumber_batch(interface, allocation, new_mac=new_mac)
    argv = ["sh", "-c", _RENUMBER, "atelier-renumber", interface]
    done = await client.exec(argv, input=batch.encode(), user="root", timeout=60)
    if done.exit_code != 0:
        raise AtelierError(
            f"cannot renumber {interface}: {done.stderr.decode(errors='replace').strip()}",
            code="guest_setup_failed",
        )
    if allocation.dns:
        resolv = "".join(f"nameserver {a}\n" for a in allocation.dns)
        await client.write_file("/etc/resolv.conf", resolv.encode(), mode=0o644, owner="root")
    return interface


def host_keys() -> dict[str, tuple[bytes, int]]:
    """Fresh SSH host keys (ed25519, ecdsa) as `{path: (content, mode)}`.

    Made on the host: ssh-keygen in a guest under TCG takes seconds per key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    files: dict[str, tuple[bytes, int]] = {}
    keys: dict[str, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey] = {
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "ecdsa": ec.generate_private_key(ec.SECP256R1()),
    }
    for kind, key in keys.items():
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        base = f"{SSH_KEY_DIR}/ssh_host_{kind}_key"
        files[base] = (private, 0o600)
        files[base + ".pub"] = (public + b"\n", 0o644)
    return files


async def install_host_keys(client: AgentClient) -> None:
    """Replace the guest's SSH host keys (sshd reads them at each new connection)."""
    with contextlib.suppress(AgentNotFound):
        for name in (
            "ssh_host_rsa_key",
            "ssh_host_rsa_key.pub",
            "ssh_host_dsa_key",
            "ssh_host_dsa_key.pub",
        ):
            await client.remove(f"{SSH_KEY_DIR}/{name}", missing_ok=True)
    for path, (content, mode) in host_keys().items():
        await client.write_file(path, content, mode=mode, owner="root")


async def reidentify(
    client: AgentClient,
    *,
    token: str,
    hostname: str,
    sandbox_id: str,
    allocation: Allocation | None,
    new_identity: bool,
) -> None:
    """Make a restored guest this sandbox: clock, entropy, token, then network and identity.

    The last ones run concurrently (the agent serves calls in parallel).
    """
    await client.set_time()
    await client.reseed()
    await client.rotate_token(token)
    jobs: list[Awaitable[Any]] = []
    if allocation is not None:
        jobs.append(renumber(client, allocation))
    if new_identity:
        jobs.append(
            client.refresh_identity(hostname=hostname, sandbox_id=sandbox_id, ssh_host_keys=False)
        )
        jobs.append(install_host_keys(client))
    await asyncio.gather(*jobs)
