"""What a VM boots from: the guest kernel, the boot bundle and the image.

Resolves the configured kernel (custom when built, else Debian's cloud kernel), builds or
reuses the boot bundle that delivers the current guest agent, and finds built images.
Cached per process: the bundle digest covers the guest code, so a new Atelier version gets
a new bundle automatically.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from atelier.config import AtelierConfig
from atelier.runtime.images.bootbundle import build_boot_bundle
from atelier.runtime.images.catalog import BuiltImage, find_image, list_images
from atelier.runtime.images.kernel import resolve_kernel
from atelier.runtime.images.kernelstore import KernelArtifact


@dataclass(frozen=True)
class BootFiles:
    """The kernel and boot bundle one VM boots with."""

    kernel: KernelArtifact
    bundle: Path

    @property
    def label(self) -> str:
        return f"{self.kernel.flavour} {self.kernel.release}"


class BootAssets:
    """Resolves and caches boot files; finds images."""

    def __init__(self, config: AtelierConfig) -> None:
        self._config = config
        self._lock = asyncio.Lock()
        self._files: BootFiles | None = None

    async def boot_files(self) -> BootFiles:
        """The kernel + bundle for new VMs (resolved once per process)."""
        async with self._lock:
            if self._files is None or not self._files.bundle.exists():
                kernel = await resolve_kernel(self._config)
                bundle = await asyncio.to_thread(build_boot_bundle, kernel, self._config)
                self._files = BootFiles(kernel, bundle)
            return self._files

    def image(self, name: str) -> BuiltImage:
        """A built image by name; ImageNotFound (with the build command) otherwise."""
        return find_image(self._config, name)

    def images(self) -> list[BuiltImage]:
        """Every built image."""
        return list_images(self._config)
