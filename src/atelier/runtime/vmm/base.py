"""The VMM Protocol every driver (qemu, firecracker, mock) implements.

A driver turns a `BootSpec` into a running VM process and controls it afterwards. It owns
only the VM process and its run directory (sockets, pid file, console log); volumes, network
interfaces and the agent are other drivers' business. VM processes are started detached
from the caller, so they outlive the manager; `adopt` finds them again after a restart.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from atelier.runtime.agent.endpoint import AgentEndpoint

CacheMode = Literal["writeback", "none", "unsafe"]


@dataclass(frozen=True)
class Disk:
    """A block device for the guest. The first disk of a BootSpec is the root volume.

    `cache="unsafe"` ignores guest flushes and is only for throwaway test VMs; sandbox
    volumes use `writeback` (or `none`), which honours the guest's flushes. `ephemeral`
    discards the guest's writes when the VM ends (the file is never modified): for
    throwaway VMs booted straight from an image.
    """

    path: Path
    read_only: bool = False
    cache: CacheMode = "writeback"
    ephemeral: bool = False


@dataclass(frozen=True)
class PortForward:
    """A loopback port on the host forwarded to a guest port (user networking)."""

    host_port: int
    guest_port: int
    host_addr: str = "127.0.0.1"


@dataclass(frozen=True)
class GuestForward:
    """A guest-visible address forwarded to a host service (user networking only)."""

    guest_addr: str
    guest_port: int
    host_addr: str
    host_port: int


@dataclass(frozen=True)
class Nic:
    """How the guest's network interface is attached.

    - `tap`: an existing TAP device (`tap`) created by the network driver.
    - `user`: QEMU user networking, restricted (no guest access to the host or outside)
      except through `guest_forwards`; host-to-guest `forwards` bind 127.0.0.1 only.
    """

    kind: Literal["tap", "user"]
    mac: str
    tap: str | None = None
    forwards: tuple[PortForward, ...] = ()
    guest_forwards: tuple[GuestForward, ...] = ()
    restrict: bool = True


@dataclass(frozen=True)
class BootSpec:
    """Everything a driver needs to start one VM."""

    name: str  # run-directory name from names.vm_name(), e.g. atl-sbx-<id>
    kernel: Path
    initrd: Path | None
    cmdline: tuple[str, ...]  # kernel parameters beyond the driver's own
    vcpus: int
    memory_mb: int
    disks: tuple[Disk, ...]
    nics: tuple[Nic, ...] = ()
    memory_file: Path | None = None  # file-backed guest RAM (snapshots, RSS accounting)
    restore_from: Path | None = None  # a snapshot's state file to resume instead of booting
    vsock_cid: int | None = None  # Firecracker only


class VmState(enum.StrEnum):
    """What the VMM reports about a VM."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True)
class VmHandle:
    """A started VM: enough to control it, persisted so a restarted manager can adopt it."""

    name: str
    driver: str
    pid: int
    run_dir: Path
    agent: AgentEndpoint
    console_log: Path
    argv: tuple[str, ...] = ()
    started_at: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BootTimings:
    """Milestones of a boot, in seconds from the VMM spawn."""

    vmm_ready_s: float  # the VMM process accepted its control socket
    kernel_s: float | None = None  # first kernel console line, when observable


@runtime_checkable
class Vmm(Protocol):
    """A virtual machine monitor driver."""

    name: str

    async def boot(self, spec: BootSpec) -> VmHandle:
        """Start a VM (or resume it from `spec.restore_from`) and return once the VMM runs.

        Does not wait for the guest agent. On failure nothing of the VM is left behind.
        Raises VmmError.
        """
        ...

    async def stop(self, handle: VmHandle, timeout: float = 10.0) -> None:
        """Ask the guest to power off, then kill the VM if it has not exited in `timeout`."""
        ...

    async def kill(self, handle: VmHandle) -> None:
        """Kill the VM process at once and remove its run directory."""
        ...

    async def status(self, handle: VmHandle) -> VmState:
        """Whether the VM runs, is paused, or is gone."""
        ...

    async def pause(self, handle: VmHandle) -> None:
        """Freeze the guest's vCPUs."""
        ...

    async def resume(self, handle: VmHandle) -> None:
        """Unfreeze the guest's vCPUs."""
        ...

    async def snapshot(self, handle: VmHandle, state_file: Path) -> None:
        """Save the paused VM's device and memory state to `state_file`."""
        ...

    async def adopt(self, name: str) -> VmHandle | None:
        """Find a VM started earlier (by any process) from its run directory, if it lives."""
        ...

    def run_dir(self, name: str) -> Path:
        """The directory holding a VM's sockets, pid file and console log."""
        ...
