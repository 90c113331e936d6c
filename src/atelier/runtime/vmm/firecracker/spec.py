"""What Firecracker accepts of a `BootSpec`, its kernel command line and stored handles.

Pure functions: the driver calls them before starting anything, so a spec Firecracker
cannot run (QEMU user networking, too many vCPUs) fails with a clear error and no process.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from atelier.errors import ValidationError
from atelier.guest.protocol import VSOCK_PORT
from atelier.runtime.agent.endpoint import AgentEndpoint
from atelier.runtime.vmm.base import BootSpec, VmHandle

# Firecracker guests use virtio-mmio (pci=off): the kernel needs
# VIRTIO_MMIO_CMDLINE_DEVICES, since Firecracker appends the device list to the command line.
# reboot=k: the guest's reboot (after Ctrl-Alt-Del) ends the Firecracker process.
BASE_BOOT_ARGS = ("console=ttyS0", "reboot=k", "panic=1", "pci=off", "atelier.root=/dev/vda")
MAX_VCPUS = 32
MIN_MEMORY_MB = 128
DEFAULT_GUEST_CID = 3
AGENT_VSOCK_PORT = VSOCK_PORT  # the guest agent listens here


def check_spec(spec: BootSpec) -> None:
    """Raise ValidationError naming the field when Firecracker cannot run `spec`."""
    if not 1 <= spec.vcpus <= MAX_VCPUS:
        raise ValidationError(
            f"vcpus={spec.vcpus} is not allowed: Firecracker runs 1 to {MAX_VCPUS} vCPUs",
            field="vcpus",
            hint=f"pick a value between 1 and {MAX_VCPUS}",
        )
    if spec.memory_mb < MIN_MEMORY_MB:
        raise ValidationError(
            f"memory_mb={spec.memory_mb} is too small: at least {MIN_MEMORY_MB} MiB",
            field="memory_mb",
            hint=f"give the VM {MIN_MEMORY_MB} MiB or more",
        )
    if not spec.disks:
        raise ValidationError(
            "disks is empty: Firecracker needs a root drive",
            field="disks",
            hint="pass the sandbox volume as the first disk",
        )
    for index, nic in enumerate(spec.nics):
        if nic.kind != "tap" or not nic.tap:
            raise ValidationError(
                f"nics[{index}].kind={nic.kind!r} is not supported by Firecracker: only 'tap'"
                " (with a TAP device name) is",
                field=f"nics[{index}].kind",
                hint="use the bridge network driver with Firecracker, or the qemu VMM",
            )
    if spec.vsock_cid is not None and spec.vsock_cid < DEFAULT_GUEST_CID:
        raise ValidationError(
            f"vsock_cid={spec.vsock_cid} is reserved: guest CIDs start at {DEFAULT_GUEST_CID}",
            field="vsock_cid",
            hint="leave it unset (3) or pick a value of 3 or more",
        )


def boot_args(spec: BootSpec) -> str:
    """The guest kernel command line: the driver's parameters, then the spec's."""
    return " ".join((*BASE_BOOT_ARGS, *spec.cmdline))


def iface_id(index: int) -> str:
    """The Firecracker interface id of the n-th NIC (the guest names it eth<n>)."""
    return f"eth{index}"


def snapshot_mem_file(state_file: Path) -> Path:
    """The memory file that goes with a snapshot state file: `<state_file>.mem`."""
    return state_file.with_name(state_file.name + ".mem")


def absolute_snapshot_paths(state_file: Path) -> tuple[str, str]:
    """Absolute state and memory file paths, for an unjailed Firecracker to write."""
    return os.path.abspath(state_file), os.path.abspath(snapshot_mem_file(state_file))


def handle_to_json(handle: VmHandle) -> str:
    """The handle as stored in the run directory's `vm.json`."""
    data: dict[str, Any] = asdict(handle)
    data["run_dir"] = str(handle.run_dir)
    data["console_log"] = str(handle.console_log)
    data["agent"] = handle.agent.to_dict()
    data["argv"] = list(handle.argv)
    return json.dumps(data, indent=2)


def handle_from_json(text: str) -> VmHandle:
    """Inverse of `handle_to_json`; raises ValueError or KeyError on a damaged file."""
    data = json.loads(text)
    return VmHandle(
        name=data["name"],
        driver=data["driver"],
        pid=int(data["pid"]),
        run_dir=Path(data["run_dir"]),
        agent=AgentEndpoint.from_dict(data["agent"]),
        console_log=Path(data["console_log"]),
        argv=tuple(data.get("argv", ())),
        started_at=float(data.get("started_at", 0.0)),
        extra={str(k): str(v) for k, v in data.get("extra", {}).items()},
    )
