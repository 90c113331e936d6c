"""Installed guest kernels: the `KernelArtifact` record and its place under `<images>/kernels/`.

Each installed kernel is a directory `<flavour>-<release>-<hash12>/` holding `vmlinux` (PVH
ELF), `kernel.json` (its manifest) and, for the cloud flavour, `modroot/lib/modules/<release>`.
The symlink `<flavour>` points at the current one, so `<images>/kernels/custom/vmlinux` is a
stable path. Older directories stay until removed, so a running VM never loses its kernel.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from atelier.runtime.images.errors import ImageBuildError

if TYPE_CHECKING:
    from atelier.config import AtelierConfig

Flavour = Literal["custom", "cloud"]
FLAVOURS: tuple[Flavour, ...] = ("custom", "cloud")
MANIFEST = "kernel.json"


@dataclass(frozen=True)
class KernelArtifact:
    """A guest kernel ready to boot."""

    flavour: Flavour
    release: str  # `uname -r` inside the guest, e.g. 6.1.192-atelier
    package: str  # the Debian package it came from (linux-source-6.1, linux-image-…)
    package_version: str  # that package's version, e.g. 6.1.192-3
    config_hash: str  # sha256 of the build inputs; the cache key
    vmlinux: Path  # uncompressed ELF with the PVH entry note
    size: int  # bytes of vmlinux
    pvh_entry: int  # physical 32-bit PVH entry address
    built_at: str  # ISO 8601, UTC
    build_seconds: float
    modules_root: Path | None = None  # cloud: directory containing lib/modules/<release>

    @property
    def directory(self) -> Path:
        """The installed kernel's directory."""
        return self.vmlinux.parent

    @property
    def modules_dir(self) -> Path | None:
        """`<modules_root>/lib/modules/<release>`, or None for a kernel without modules."""
        if self.modules_root is None:
            return None
        return self.modules_root / "lib" / "modules" / self.release

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON data (paths relative to the kernel's directory)."""
        data = asdict(self)
        data["vmlinux"] = self.vmlinux.name
        data["modules_root"] = self.modules_root.name if self.modules_root else None
        data["pvh_entry"] = hex(self.pvh_entry)
        return data

    def describe(self) -> dict[str, Any]:
        """JSON data for listings, with absolute paths."""
        data = self.to_json()
        data["vmlinux"] = str(self.vmlinux)
        data["modules_root"] = str(self.modules_root) if self.modules_root else None
        return data

    @classmethod
    def from_json(cls, directory: Path, data: dict[str, Any]) -> KernelArtifact:
        """Read a manifest written by `to_json()`."""
        modules = data.get("modules_root")
        return cls(
            flavour=cast(Flavour, data["flavour"]),
            release=str(data["release"]),
            package=str(data["package"]),
            package_version=str(data["package_version"]),
            config_hash=str(data["config_hash"]),
            vmlinux=directory / str(data["vmlinux"]),
            size=int(data["size"]),
            pvh_entry=int(str(data["pvh_entry"]), 16),
            built_at=str(data["built_at"]),
            build_seconds=float(data["build_seconds"]),
            modules_root=directory / str(modules) if modules else None,
        )


def kernels_dir(config: AtelierConfig) -> Path:
    """`<paths.images>/kernels`."""
    return config.paths.images / "kernels"


def dir_name(flavour: Flavour, release: str, config_hash: str) -> str:
    """The directory name of an installed kernel."""
    return f"{flavour}-{release}-{config_hash[:12]}"


def load(directory: Path) -> KernelArtifact | None:
    """The kernel installed in `directory`, or None when it holds no valid manifest."""
    try:
        data = json.loads((directory / MANIFEST).read_text())
        artifact = KernelArtifact.from_json(directory, data)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return artifact if artifact.vmlinux.is_file() else None


def installed(config: AtelierConfig, flavour: Flavour) -> KernelArtifact | None:
    """The current kernel of a flavour, or None when none is installed."""
    link = kernels_dir(config) / flavour
    return load(link.resolve()) if link.is_symlink() else None


def list_installed(config: AtelierConfig) -> list[KernelArtifact]:
    """Every installed kernel, newest first."""
    root = kernels_dir(config)
    if not root.is_dir():
        return []
    found = [
        artifact
        for entry in root.iterdir()
        if entry.is_dir() and not entry.is_symlink() and not entry.name.startswith(".")
        if (artifact := load(entry)) is not None
    ]
    return sorted(found, key=lambda a: a.built_at, reverse=True)


def install(config: AtelierConfig, staged: KernelArtifact) -> KernelArtifact:
    """Copy a built kernel (vmlinux and modules) into the images dir and make it current.

    `staged` describes the files in the build cache; the result describes the installed
    copy. Files are hard-linked when cache and images share a filesystem.
    """
    root = kernels_dir(config)
    root.mkdir(parents=True, exist_ok=True)
    name = dir_name(staged.flavour, staged.release, staged.config_hash)
    final = root / name
    if load(final) is None:
        tmp = root / f".tmp-{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            _link_or_copy(staged.vmlinux, tmp / "vmlinux")
            if staged.modules_root is not None:
                shutil.copytree(staged.modules_root, tmp / "modroot", copy_function=_link_or_copy)
            moved = _relocate(staged, tmp)
            (tmp / MANIFEST).write_text(json.dumps(moved.to_json(), indent=2) + "\n")
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ImageBuildError(
                f"cannot install kernel into {final}: {exc}",
                hint=f"check that {root} is writable (run as root for the default paths)",
            ) from exc
    _point(root / staged.flavour, name)
    artifact = load(final)
    assert artifact is not None
    return artifact


def _relocate(staged: KernelArtifact, directory: Path) -> KernelArtifact:
    modules = directory / "modroot" if staged.modules_root is not None else None
    return replace(staged, vmlinux=directory / "vmlinux", modules_root=modules)


def _point(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(link)


def _link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
