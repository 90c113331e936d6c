"""Errors of the VMM drivers.

HostError
└── VmmError                the VMM failed to start or refused a request
    ├── VmNotRunning        the VM process is gone
    └── VmmApiError         the VMM's control API answered with a fault
"""

from __future__ import annotations

from atelier.errors import Conflict, HostError


class VmmError(HostError):
    """The VMM failed to start a VM or to carry out a request."""

    code = "vmm_error"


class VmNotRunning(Conflict):
    """The VM process is not running."""

    code = "vm_not_running"


class VmmApiError(VmmError):
    """The VMM's API refused a request; the message carries its fault text."""

    code = "vmm_api_error"
