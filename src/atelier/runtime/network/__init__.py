"""Sandbox networking: a TAP per sandbox behind a NAT bridge (`bridge`), or QEMU user
networking with loopback-only forwards (`user`).

The manager builds its driver with `select_network(config.network, repo, run_dir=…)`,
backing `AllocationRepository` with its database, and talks to it through the `Network`
Protocol: `allocate` → `nic` (for the VMM) and `kernel_params()` (for the guest) →
`endpoint`/`dial` (for Caddy, the SSH gateway, the manager) → `release`.
"""

from atelier.runtime.network.base import (
    Allocation,
    AllocationRepository,
    Endpoint,
    Network,
    NetworkStatus,
    PortStatus,
    SetupReport,
)
from atelier.runtime.network.bridge import BridgeNetwork
from atelier.runtime.network.errors import (
    AddressPoolExhausted,
    AllocationConflict,
    AllocationNotFound,
    DriverUnavailable,
    GuestUnreachable,
    NetworkError,
    NetworkInUse,
    NetworkNotReady,
    PortNotForwarded,
)
from atelier.runtime.network.memory import MemoryAllocationRepository
from atelier.runtime.network.select import HostFacts, choose_driver, select_network
from atelier.runtime.network.user import UserNetwork

__all__ = [
    "AddressPoolExhausted",
    "Allocation",
    "AllocationConflict",
    "AllocationNotFound",
    "AllocationRepository",
    "BridgeNetwork",
    "DriverUnavailable",
    "Endpoint",
    "GuestUnreachable",
    "HostFacts",
    "MemoryAllocationRepository",
    "Network",
    "NetworkError",
    "NetworkInUse",
    "NetworkNotReady",
    "NetworkStatus",
    "PortNotForwarded",
    "PortStatus",
    "SetupReport",
    "UserNetwork",
    "choose_driver",
    "select_network",
]
