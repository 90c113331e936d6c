"""The manifest written beside every built image, and the facts it is made from.

`manifest.json` records what the image is (name, version, recipe hash, parent), what it
holds (notable packages with versions read from the tree's dpkg status, file count), what
it needs (kernel flavours, ext4 features, recommended memory, agent protocol version) and
what it costs (apparent and allocated size, build time).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
IMAGE_FILE = "rootfs.ext4"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ImageManifest:
    """Everything known about one built image."""

    name: str
    version: str
    description: str
    recipe_hash: str
    parent: str | None
    created: str  # ISO 8601, UTC
    build_seconds: float
    image_file: str  # file name beside the manifest
    size_apparent: int  # bytes: the ext4 file's length
    size_allocated: int  # bytes actually allocated on the host (sparse file)
    rootfs_bytes: int  # apparent size of the tree that went in
    file_count: int
    sha256: str  # of the image file
    filesystem: dict[str, Any]  # type, label, features
    kernel: dict[str, Any]  # flavours it boots with, minimum version, root device
    packages: dict[str, str]  # notable package -> version
    package_count: int
    debian: dict[str, str]  # suite, architecture
    agent_protocol: int | None  # atelier.guest.protocol.PROTOCOL_VERSION at build time
    recommended_memory_mb: int
    schema: int = SCHEMA_VERSION
    notes: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON data."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageManifest:
        """Read JSON data written by `to_json()`; unknown keys are ignored."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


def write_manifest(directory: Path, manifest: ImageManifest) -> Path:
    """Write `manifest.json` into `directory`."""
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n")
    return path


def read_manifest(directory: Path) -> ImageManifest:
    """Read `manifest.json` from `directory`; OSError/ValueError/TypeError when invalid."""
    return ImageManifest.from_json(json.loads((directory / MANIFEST).read_text()))


def parse_dpkg_status(text: str) -> dict[str, str]:
    """{package: version} of the installed packages in a dpkg status file."""
    installed: dict[str, str] = {}
    for paragraph in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            installed[fields["Package"]] = fields.get("Version", "")
    return installed


def notable(installed: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """Versions of the packages a recipe calls notable (missing ones are left out)."""
    return {name: installed[name] for name in names if name in installed}


def parse_features(dumpe2fs_header: str) -> list[str]:
    """The ext4 feature list from `dumpe2fs -h` output."""
    for line in dumpe2fs_header.splitlines():
        if line.startswith("Filesystem features:"):
            return line.split(":", 1)[1].split()
    return []


def agent_protocol_version() -> int | None:
    """The guest agent's protocol version in this Atelier, or None when it is not defined."""
    try:
        protocol = importlib.import_module("atelier.guest.protocol")
    except ImportError:
        return None
    value = getattr(protocol, "PROTOCOL_VERSION", None)
    return value if isinstance(value, int) else None
