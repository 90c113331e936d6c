"""Built images on disk: `<paths.images>/<name>/rootfs.ext4` + `manifest.json`.

Lookups by name for the storage and VMM layers (`find_image`), listings for the CLI, and
removal. A directory only counts as an image when both files are present and the manifest
parses, so a crashed build can never be mistaken for an image.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from atelier.errors import ValidationError
from atelier.runtime.host import names
from atelier.runtime.images.errors import ImageNotFound
from atelier.runtime.images.manifest import IMAGE_FILE, ImageManifest, read_manifest

if TYPE_CHECKING:
    from atelier.config import AtelierConfig

RESERVED = frozenset({"kernels"})


@dataclass(frozen=True)
class BuiltImage:
    """A built image: where its raw ext4 file is and what its manifest says."""

    name: str
    path: Path  # the raw ext4 image (read-only by convention: clone it, never boot it)
    manifest: ImageManifest

    @property
    def directory(self) -> Path:
        """The image's directory."""
        return self.path.parent


def check_name(name: str) -> str:
    """A valid image name; ValidationError otherwise."""
    try:
        names.check_image_name(name)
    except ValueError as exc:
        raise ValidationError(str(exc), field="name", hint="e.g. minimal, dev-base") from exc
    if name in RESERVED:
        raise ValidationError(f"image name {name!r} is reserved", field="name")
    return name


def image_dir(config: AtelierConfig, name: str) -> Path:
    """`<paths.images>/<name>`."""
    return config.paths.images / check_name(name)


def load(directory: Path) -> BuiltImage | None:
    """The image in `directory`, or None when it is incomplete."""
    path = directory / IMAGE_FILE
    if not path.is_file():
        return None
    try:
        manifest = read_manifest(directory)
    except (OSError, ValueError, TypeError):
        return None
    return BuiltImage(directory.name, path, manifest)


def find_image(config: AtelierConfig, name: str) -> BuiltImage:
    """The built image called `name`; ImageNotFound when there is none."""
    found = load(image_dir(config, name))
    if found is None:
        available = ", ".join(image.name for image in list_images(config)) or "none"
        raise ImageNotFound(
            f"no built image named {name!r} in {config.paths.images} (built: {available})",
            hint=f"build it with `atelier images build {name}`",
            field="name",
        )
    return found


def list_images(config: AtelierConfig) -> list[BuiltImage]:
    """Every built image, by name."""
    root = config.paths.images
    if not root.is_dir():
        return []
    found = [
        image
        for entry in sorted(root.iterdir())
        if entry.is_dir() and not entry.name.startswith(".") and entry.name not in RESERVED
        if (image := load(entry)) is not None
    ]
    return found


def remove_image(config: AtelierConfig, name: str) -> BuiltImage:
    """Delete a built image; ImageNotFound when it does not exist. Returns what was removed.

    Sandboxes run on clones, so removing the base does not affect them; refusing to remove
    an image still referenced by sandboxes is the manager's job.
    """
    image = find_image(config, name)
    shutil.rmtree(image.directory)
    return image
