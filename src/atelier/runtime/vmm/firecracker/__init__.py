"""The Firecracker VMM driver: REST API over a Unix socket, jailer, snapshots, vsock agent."""

from atelier.runtime.vmm.firecracker.driver import FirecrackerVmm
from atelier.runtime.vmm.firecracker.errors import FirecrackerFault

__all__ = ["FirecrackerFault", "FirecrackerVmm"]
