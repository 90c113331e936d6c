"""Errors of the image, kernel and boot-bundle builders.

NotFound
├── ImageNotFound           no built image of that name
├── RecipeNotFound          no recipe module of that name
└── KernelNotFound          the requested kernel flavour is not installed
HostError
└── ImageBuildError         a build step failed (the message names the step)
    ├── KernelConfigError   required kernel options did not survive olddefconfig
    ├── KernelFormatError   a kernel file is not what it claims (bzImage, ELF, PVH note)
    └── BootBundleError     the boot bundle's inputs are missing or inconsistent
"""

from __future__ import annotations

from atelier.errors import HostError, NotFound


class ImageNotFound(NotFound):
    """No built image has this name."""

    code = "image_not_found"


class RecipeNotFound(NotFound):
    """No recipe module has this name."""

    code = "recipe_not_found"


class KernelNotFound(NotFound):
    """The kernel flavour asked for is not installed."""

    code = "kernel_not_found"


class ImageBuildError(HostError):
    """An image, kernel or bundle build step failed."""

    code = "image_build_failed"


class KernelConfigError(ImageBuildError):
    """Options the fragment requires were dropped by olddefconfig."""

    code = "kernel_config_invalid"


class KernelFormatError(ImageBuildError):
    """A kernel file does not have the expected format."""

    code = "kernel_format_invalid"


class BootBundleError(ImageBuildError):
    """An input of the boot bundle is missing or inconsistent."""

    code = "boot_bundle_invalid"
