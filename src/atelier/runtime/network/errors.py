"""Errors of the network drivers and the allocation repository.

    AtelierError
    ├── ValidationError (400)
    │   └── PortNotForwarded        dial to a guest port the user driver does not forward
    ├── NotFound (404)
    │   └── AllocationNotFound      the sandbox has no network allocation
    ├── Conflict (409)
    │   ├── AllocationConflict      a claim (IP, MAC, TAP, host port) is held by another sandbox
    │   └── NetworkInUse            teardown refused: sandbox TAPs are still attached
    ├── LimitExceeded (429)
    │   └── AddressPoolExhausted    no free guest address (or user-driver host port) is left
    ├── Unavailable (503)
    │   └── GuestUnreachable        a guest port did not accept the connection
    └── HostError (500)
        └── NetworkError            a host network operation failed
            ├── NetworkNotReady     the host side is not set up (bridge or rules missing)
            └── DriverUnavailable   the configured driver cannot run on this host

`AllocationConflict` is what a repository raises when an atomic reservation hits a uniqueness
constraint; the allocator catches it and retries with another address.
"""

from __future__ import annotations

from atelier.errors import (
    Conflict,
    HostError,
    LimitExceeded,
    NotFound,
    Unavailable,
    ValidationError,
)


class NetworkError(HostError):
    """A host network operation (bridge, TAP, firewall, resolver) failed."""

    code = "network_error"


class NetworkNotReady(NetworkError):
    """The host side of the network is missing: `atelier network setup` has not run."""

    code = "network_not_ready"


class DriverUnavailable(NetworkError):
    """The configured network driver cannot run here (not root, tool or device missing)."""

    code = "network_driver_unavailable"


class AllocationConflict(Conflict):
    """A claim of the allocation (IP, MAC, TAP or host port) is held by another sandbox."""

    code = "network_allocation_conflict"

    def __init__(self, claim: str, holder: str | None = None) -> None:
        self.claim = claim
        self.holder = holder
        owner = f" by sandbox {holder}" if holder else ""
        super().__init__(
            f"network claim {claim!r} is already held{owner}",
            hint="the allocator retries with another address; if this persists, release"
            " stale allocations with `atelier sandbox rm`",
            field="claim",
        )


class AllocationNotFound(NotFound):
    """The sandbox has no network allocation."""

    code = "network_allocation_not_found"


class NetworkInUse(Conflict):
    """Teardown was refused because sandbox TAPs are still attached to the bridge."""

    code = "network_in_use"


class AddressPoolExhausted(LimitExceeded):
    """Every guest address of the subnet (or host port of the range) is allocated."""

    code = "network_pool_exhausted"


class PortNotForwarded(ValidationError):
    """The user driver has no loopback forward for this guest port."""

    code = "network_port_not_forwarded"


class GuestUnreachable(Unavailable):
    """The guest port refused the connection or did not answer in time."""

    code = "network_guest_unreachable"
