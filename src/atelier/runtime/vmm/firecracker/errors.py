"""Errors of the Firecracker driver.

VmmError
└── VmmApiError
    └── FirecrackerFault    Firecracker answered a request with `{"fault_message": ...}`
"""

from __future__ import annotations

from atelier.runtime.vmm.errors import VmmApiError


class FirecrackerFault(VmmApiError):
    """Firecracker refused an API request; carries its `fault_message` verbatim."""

    code = "firecracker_fault"

    def __init__(
        self,
        method: str,
        path: str,
        status_code: int,
        fault_message: str,
        *,
        vm: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status_code = status_code
        self.fault_message = fault_message
        where = f" for VM {vm}" if vm else ""
        super().__init__(
            f"Firecracker refused {method} {path}{where} (HTTP {status_code}): {fault_message}",
            hint=hint,
        )
