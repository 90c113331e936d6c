"""The images service the CLI (and later the API) calls: images, recipes and guest kernels.

It turns runtime results into small rows the interfaces render, and holds no state.
Builds report progress through a `BuildEvents` object the caller passes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atelier.config import AtelierConfig
from atelier.runtime.images import builder, catalog, kernel, recipes
from atelier.runtime.images.base import BuildEvents, NullEvents
from atelier.runtime.images.catalog import BuiltImage
from atelier.runtime.images.kernelstore import Flavour, KernelArtifact

__all__ = [
    "IMAGE_COLUMNS",
    "KERNEL_COLUMNS",
    "BuildEvents",
    "ImageRow",
    "ImageService",
    "KernelRow",
    "NullEvents",
]


@dataclass(frozen=True)
class ImageRow:
    """One built image, as listings show it."""

    image: BuiltImage
    cached: bool = False  # set by build when nothing had to be rebuilt

    def as_json(self) -> dict[str, Any]:
        """JSON-ready fields: the manifest plus the image path."""
        data = self.image.manifest.to_json()
        data["path"] = str(self.image.path)
        if self.cached:
            data["cached"] = True
        return data

    def cells(self) -> tuple[str, ...]:
        """Table cells: name, version, size, created, recipe hash, kernel."""
        m = self.image.manifest
        size = f"{m.size_allocated >> 20}/{m.size_apparent >> 20} MiB"
        flavours = ",".join(m.kernel.get("flavours", []))
        return (m.name, m.version, size, _when(m.created), m.recipe_hash[:12], flavours)


@dataclass(frozen=True)
class KernelRow:
    """One installed kernel, as listings show it."""

    kernel: KernelArtifact
    current: bool

    def as_json(self) -> dict[str, Any]:
        """JSON-ready fields: the kernel manifest with absolute paths, and `current`."""
        return {**self.kernel.describe(), "current": self.current}

    def cells(self) -> tuple[str, ...]:
        """Table cells: flavour, release, current, size, built, build time, hash."""
        k = self.kernel
        return (
            k.flavour,
            k.release,
            "yes" if self.current else "",
            f"{k.size >> 20} MiB",
            _when(k.built_at),
            f"{k.build_seconds:.0f} s",
            k.config_hash[:8],
        )


IMAGE_COLUMNS = ("name", "ver", "used/size", "created", "recipe", "kernels")
KERNEL_COLUMNS = ("flavour", "release", "current", "vmlinux", "built", "took", "hash")


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ")


class ImageService:
    """Builds, lists and removes images and guest kernels."""

    def __init__(self, config: AtelierConfig) -> None:
        self._config = config

    async def build(
        self,
        name: str,
        *,
        no_cache: bool = False,
        events: BuildEvents | None = None,
        args: dict[str, str] | None = None,
    ) -> ImageRow:
        """Build an image (or reuse the built one). Errors: see `builder.build_image`."""
        result = await builder.build_image(
            self._config, name, no_cache=no_cache, events=events, args=args
        )
        return ImageRow(result.image, cached=result.cached)

    def images(self) -> list[ImageRow]:
        """Every built image."""
        return [ImageRow(image) for image in catalog.list_images(self._config)]

    def get(self, name: str) -> ImageRow:
        """One built image; ImageNotFound when missing."""
        return ImageRow(catalog.find_image(self._config, name))

    def remove(self, name: str) -> ImageRow:
        """Delete a built image; ImageNotFound when missing."""
        return ImageRow(catalog.remove_image(self._config, name))

    def recipes(self) -> list[str]:
        """Image names that have a recipe."""
        return recipes.available()

    async def build_kernel(
        self, flavour: Flavour, *, force: bool = False, events: BuildEvents | None = None
    ) -> KernelRow:
        """Build the custom kernel or prepare the cloud one, and make it current."""
        built = await kernel.build_kernel(self._config, flavour, force=force, events=events)
        return KernelRow(built, current=True)

    def kernels(self) -> list[KernelRow]:
        """Every installed kernel, marking the current one of each flavour."""
        current = {
            found.directory
            for flavour in kernel.FLAVOURS
            if (found := kernel.find_kernel(self._config, flavour)) is not None
        }
        return [KernelRow(k, k.directory in current) for k in kernel.list_kernels(self._config)]
