"""The guest kernel: which one boots, and building either flavour.

Two flavours boot the same way (PVH entry of an uncompressed ELF vmlinux, with QEMU
`-kernel` or Firecracker):

- `custom`: built from `linux-source-6.1` with everything built in (see `kbuild`);
- `cloud`: Debian's cloud kernel plus the modules the boot bundle loads (see `cloud`).

`resolve_kernel()` applies the `images.kernel` setting: `auto` prefers an installed custom
kernel and otherwise prepares the cloud one; `custom` and `cloud` insist on that flavour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atelier.runtime.images import cloud, kbuild, kernelstore
from atelier.runtime.images.base import BuildEvents, NullEvents
from atelier.runtime.images.errors import KernelNotFound
from atelier.runtime.images.kernelstore import FLAVOURS, Flavour, KernelArtifact

if TYPE_CHECKING:
    from atelier.config import AtelierConfig

__all__ = [
    "FLAVOURS",
    "Flavour",
    "KernelArtifact",
    "build_kernel",
    "find_kernel",
    "list_kernels",
    "resolve_kernel",
]


async def build_kernel(
    config: AtelierConfig,
    flavour: Flavour = "custom",
    *,
    force: bool = False,
    events: BuildEvents | None = None,
) -> KernelArtifact:
    """Build (custom) or prepare (cloud) a kernel, install it and make it current.

    A cached build with the same inputs is reused unless `force`. Raises KernelConfigError,
    ImageBuildError, CommandError or ToolMissing when a step fails, Conflict when another
    kernel build holds the lock.
    """
    events = events or NullEvents()
    if flavour == "custom":
        return await kbuild.build_custom(config, events, force=force)
    return await cloud.prepare_cloud(config, events, force=force)


def find_kernel(config: AtelierConfig, flavour: Flavour) -> KernelArtifact | None:
    """The current installed kernel of a flavour, or None."""
    return kernelstore.installed(config, flavour)


def list_kernels(config: AtelierConfig) -> list[KernelArtifact]:
    """Every installed kernel (current and older), newest first."""
    return kernelstore.list_installed(config)


async def resolve_kernel(
    config: AtelierConfig, events: BuildEvents | None = None
) -> KernelArtifact:
    """The kernel to boot sandboxes with, per `images.kernel`.

    `auto`: the installed custom kernel, else the cloud kernel (prepared when missing, which
    downloads it through apt). `custom`: KernelNotFound when it was never built. `cloud`:
    the cloud kernel, prepared when missing.
    """
    mode = config.images.kernel
    if mode in ("auto", "custom"):
        custom = kernelstore.installed(config, "custom")
        if custom is not None:
            return custom
        if mode == "custom":
            raise KernelNotFound(
                "images.kernel is 'custom' but no custom kernel is installed in"
                f" {kernelstore.kernels_dir(config)}",
                hint="run `atelier images kernel build` (about 7 minutes on 2 cores), or set"
                " images.kernel to 'auto' or 'cloud'",
                field="images.kernel",
            )
    found = kernelstore.installed(config, "cloud")
    if found is not None:
        return found
    return await cloud.prepare_cloud(config, events or NullEvents())
