"""Stand-in kernels and images written under a test's config paths."""

from __future__ import annotations

import json
from pathlib import Path

from atelier.config import AtelierConfig
from atelier.runtime.images import kernelstore
from atelier.runtime.images.kernelstore import Flavour, KernelArtifact
from atelier.runtime.images.manifest import IMAGE_FILE, ImageManifest, write_manifest
from tests.unit.runtime.images import elves

MODULES_DEP = """\
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/fs/overlayfs/overlay.ko:
"""
# Every other boot module is "built in" for these tests.
MODULES_BUILTIN = "".join(f"kernel/x/{name}.ko\n" for name in (
    "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_mmio", "virtio_blk", "virtio_net",
    "virtio_console", "vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport",
    "virtio_rng", "virtio_balloon",
))  # fmt: skip


def staged_kernel(
    root: Path, flavour: Flavour = "custom", digest: str = "ab" * 32
) -> KernelArtifact:
    """A kernel in a build-cache-like directory (vmlinux, and modules for cloud)."""
    root.mkdir(parents=True, exist_ok=True)
    vmlinux = root / "vmlinux"
    vmlinux.write_bytes(elves.pvh_vmlinux())
    modroot = None
    release = "6.1.0-test" if flavour == "cloud" else "6.1.192-atelier"
    if flavour == "cloud":
        modroot = root / "modroot"
        release_dir = modroot / "lib" / "modules" / release
        for line in MODULES_DEP.splitlines():
            path = release_dir / line.split(":")[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\x7fELF module " + path.name.encode())
        (release_dir / "modules.dep").write_text(MODULES_DEP)
        (release_dir / "modules.builtin").write_text(MODULES_BUILTIN)
    return KernelArtifact(
        flavour=flavour,
        release=release,
        package="linux-source-6.1" if flavour == "custom" else "linux-image-6.1.0-test-cloud",
        package_version="6.1.192-3",
        config_hash=digest,
        vmlinux=vmlinux,
        size=vmlinux.stat().st_size,
        pvh_entry=0x1000850,
        built_at="2026-01-01T00:00:00+00:00",
        build_seconds=1.5,
        modules_root=modroot,
    )


def installed_kernel(config: AtelierConfig, flavour: Flavour = "custom") -> KernelArtifact:
    """A kernel installed into the config's images dir."""
    staged = staged_kernel(config.paths.cache_dir / "kernels" / f"staged-{flavour}", flavour)
    return kernelstore.install(config, staged)


def manifest(name: str = "minimal", recipe_hash: str = "cd" * 32) -> ImageManifest:
    """A plausible manifest."""
    return ImageManifest(
        name=name,
        version="1",
        description="test image",
        recipe_hash=recipe_hash,
        parent=None,
        created="2026-01-01T00:00:00+00:00",
        build_seconds=60.0,
        image_file=IMAGE_FILE,
        size_apparent=1 << 30,
        size_allocated=300 << 20,
        rootfs_bytes=230 << 20,
        file_count=9000,
        sha256="00" * 32,
        filesystem={"type": "ext4", "label": "rootfs", "features": ["extent"]},
        kernel={"flavours": ["custom", "cloud"], "min_version": "6.1"},
        packages={"python3": "3.11.2-1+b1"},
        package_count=160,
        debian={"suite": "bookworm", "architecture": "amd64"},
        agent_protocol=1,
        recommended_memory_mb=512,
    )


def built_image(config: AtelierConfig, name: str = "minimal") -> Path:
    """An image directory with a (tiny) image file and a manifest."""
    directory = config.paths.images / name
    directory.mkdir(parents=True)
    (directory / IMAGE_FILE).write_bytes(b"\0" * 4096)
    write_manifest(directory, manifest(name))
    return directory


def write_json(path: Path, data: object) -> None:
    """Write JSON, creating parents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
