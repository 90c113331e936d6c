"""Mock mode (`server.mode = "mock"`): the manager without VMs, for UI development.

The runtime is the mock VMM (the real agent as an unprivileged host process), the copy
storage driver over tiny placeholder images in `<data_dir>/mock`, and no network. Nothing
here is used by tests that claim a real feature works; `/health` and the log say so.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from atelier.config import AtelierConfig
from atelier.core.assets import BootAssets, BootFiles
from atelier.core.runtime import Choice, Runtime
from atelier.errors import NotFound
from atelier.runtime.images.catalog import BuiltImage
from atelier.runtime.images.kernelstore import KernelArtifact
from atelier.runtime.images.manifest import ImageManifest
from atelier.runtime.storage.copy import CopyStorage
from atelier.runtime.vmm.mock import MockVmm

MOCK_IMAGES = {"minimal": 512, "dev-base": 2048, "dev-cloud": 2048}
_IMAGE_BYTES = 16 << 20


class MockAssets(BootAssets):
    """Placeholder kernel, bundle and images; the mock VMM boots none of them."""

    def __init__(self, config: AtelierConfig) -> None:
        super().__init__(config)
        self._root = config.paths.data_dir / "mock"
        self._root.mkdir(parents=True, exist_ok=True)

    async def boot_files(self) -> BootFiles:
        kernel = self._placeholder("vmlinux")
        bundle = self._placeholder("bundle.cpio")
        artifact = KernelArtifact(
            flavour="custom", release="mock", package="mock", package_version="0",
            config_hash="0" * 64, vmlinux=kernel, size=0, pvh_entry=0,
            built_at=datetime.now(UTC).isoformat(), build_seconds=0.0,
        )  # fmt: skip
        return BootFiles(artifact, bundle)

    def image(self, name: str) -> BuiltImage:
        memory = MOCK_IMAGES.get(name)
        if memory is None:
            raise NotFound(
                f"mock mode has no image {name!r} (it has {', '.join(MOCK_IMAGES)})", field="image"
            )
        path = self._placeholder(f"{name}.img", size=_IMAGE_BYTES)
        manifest = ImageManifest(
            name=name, version="mock", description=f"{name} (mock placeholder)",
            recipe_hash="mock", parent=None, created=datetime.now(UTC).isoformat(),
            build_seconds=0.0, image_file=path.name, size_apparent=_IMAGE_BYTES,
            size_allocated=0, rootfs_bytes=0, file_count=0,
            sha256=hashlib.sha256(name.encode()).hexdigest(), filesystem={}, kernel={},
            packages={}, package_count=0, debian={}, agent_protocol=None,
            recommended_memory_mb=memory,
        )  # fmt: skip
        return BuiltImage(name, path, manifest)

    def images(self) -> list[BuiltImage]:
        return [self.image(name) for name in MOCK_IMAGES]

    def _placeholder(self, name: str, size: int = 0) -> Path:
        path = self._root / name
        if not path.exists():
            with path.open("wb") as fh:
                fh.truncate(size)
        return path


def mock_runtime(config: AtelierConfig) -> Runtime:
    """The mock drivers, with reasons that say what they are."""
    pool = config.paths.data_dir / "mock" / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    return Runtime(
        vmm=MockVmm(config.vmm, config.paths.run_dir),
        storage=CopyStorage(pool, config.storage),
        network=None,
        assets=MockAssets(config),
        choices={
            "vmm": Choice("mock", "server.mode = mock: agent processes on the host, no VMs"),
            "storage": Choice("copy", f"server.mode = mock: placeholder volumes in {pool}"),
            "network": Choice("none", "server.mode = mock"),
        },
    )
