"""`atelier install`: host components Debian does not ship, starting with Firecracker.

Installs a Firecracker + jailer release the operator points to (after verifying its sha256)
into the configured paths, and reports which VMM `auto` selection now picks and why. Holds
no state; `atelier init` calls the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.config import AtelierConfig
from atelier.runtime.vmm.firecracker.install import install_release
from atelier.runtime.vmm.select import select_vmm

__all__ = ["FirecrackerInstall", "install_firecracker"]


@dataclass(frozen=True)
class FirecrackerInstall:
    """What was installed, and the VMM choice afterwards."""

    firecracker: Path
    jailer: Path
    version: str
    jailer_version: str
    sha256: str
    source: str
    vmm_driver: str
    vmm_reason: str

    def as_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "firecracker": str(self.firecracker),
            "jailer": str(self.jailer),
            "version": self.version,
            "jailer_version": self.jailer_version,
            "sha256": self.sha256,
            "source": self.source,
            "vmm": {"driver": self.vmm_driver, "reason": self.vmm_reason},
        }


async def install_firecracker(
    config: AtelierConfig, source: str, *, sha256: str | None = None, insecure: bool = False
) -> FirecrackerInstall:
    """Verify and install the release at `source` (path or URL) to `vmm.*_binary`.

    Raises ValidationError (bad input, missing checksum, plain http) or VmmError (checksum
    mismatch, not a release, binaries that do not run here); nothing is installed then.
    """
    release = await install_release(
        source,
        firecracker_dest=config.vmm.firecracker_binary,
        jailer_dest=config.vmm.jailer_binary,
        sha256=sha256,
        insecure=insecure,
    )
    choice = select_vmm(config.vmm)
    return FirecrackerInstall(
        firecracker=release.firecracker,
        jailer=release.jailer,
        version=release.version,
        jailer_version=release.jailer_version,
        sha256=release.sha256,
        source=release.source,
        vmm_driver=choice.driver,
        vmm_reason=choice.reason,
    )
