"""The storage service the CLI, `atelier init` and `doctor` call.

It picks the driver (with its reason), reports pool and volume usage, and sets up a
loop-mounted reflink pool when the host has no btrfs/XFS. It holds no state and never
touches volumes of running sandboxes; the manager uses the runtime driver directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from atelier.config import AtelierConfig
from atelier.errors import ValidationError
from atelier.runtime.storage import (
    PoolSpec,
    Selection,
    Usage,
    Volume,
    VolumeUsage,
    format_bytes,
    select_storage,
    setup_pool,
)
from atelier.runtime.storage.config import GIB, PoolFs
from atelier.runtime.storage.pool import SYSTEMD_UNIT_DIR
from atelier.runtime.storage.probe import HostProbes, StorageProbes

__all__ = [
    "SYSTEMD_UNIT_DIR",
    "SetupResult",
    "StorageService",
    "StorageStatus",
    "VolumeRow",
    "format_bytes",
]


@dataclass(frozen=True)
class StorageStatus:
    """The driver in use, why, and the pool's usage."""

    driver: str
    reason: str
    fallback: bool
    usage: Usage

    def as_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "driver": self.driver,
            "reason": self.reason,
            "fallback": self.fallback,
            "pool": self.usage.pool.as_json(),
        }


@dataclass(frozen=True)
class VolumeRow:
    """A volume with its space usage, for `atelier storage list`."""

    volume: Volume
    usage: VolumeUsage | None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = self.volume.as_json()
        data["usage"] = self.usage.as_json() if self.usage else None
        return data


@dataclass(frozen=True)
class SetupResult:
    """What `setup` did: `actions` is empty when everything was in place already."""

    pool_dir: Path
    image: Path | None
    fs: str | None
    actions: tuple[str, ...]
    unit: Path | None
    reflink: bool
    reason: str
    notes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "pool_dir": str(self.pool_dir),
            "image": str(self.image) if self.image else None,
            "fs": self.fs,
            "actions": list(self.actions),
            "changed": bool(self.actions),
            "unit": str(self.unit) if self.unit else None,
            "reflink": self.reflink,
            "reason": self.reason,
            "notes": list(self.notes),
        }


class StorageService:
    """Storage operations for the interfaces (status, list, setup)."""

    def __init__(self, config: AtelierConfig, *, probes: StorageProbes | None = None) -> None:
        self.config = config
        self.probes = probes or HostProbes()

    async def select(self) -> Selection:
        """The driver for this host and config, with the reason. Raises PoolUnavailable."""
        return await select_storage(
            self.config.storage, self.config.paths.data_dir, probes=self.probes
        )

    async def status(self) -> StorageStatus:
        """Driver, reason and pool usage (with shared/exclusive totals where known)."""
        selection = await self.select()
        usage = await selection.storage.usage()
        return StorageStatus(selection.driver, selection.reason, selection.fallback, usage)

    async def volumes(self) -> list[VolumeRow]:
        """Every Atelier volume in the pool with its space usage."""
        storage = (await self.select()).storage
        volumes = await storage.list()
        usage = {u.name: u for u in (await storage.usage()).volumes}
        return [VolumeRow(v, usage.get(v.name)) for v in volumes]

    async def setup(
        self,
        *,
        size_gb: int | None = None,
        fs: str | None = None,
        image: Path | None = None,
        pool_dir: Path | None = None,
        unit_dir: Path | None = SYSTEMD_UNIT_DIR,
    ) -> SetupResult:
        """Make sure a reflink pool exists and is mounted (idempotent).

        When the pool directory already supports reflink and no pool image is configured
        or present, nothing is done. Otherwise the pool image is created, formatted and
        mounted as needed, and a boot unit written into `unit_dir` (None: no unit).
        Raises ValidationError for a bad option or an lvm-thin config, PoolUnavailable,
        StorageError.
        """
        cfg = self.config.storage
        data_dir = self.config.paths.data_dir
        if cfg.driver == "lvm-thin":
            raise ValidationError(
                "storage.driver is lvm-thin: its pool is an LVM thin pool, which"
                " `atelier storage setup` does not create",
                field="storage.driver",
                hint="create the VG and thin pool (see docs/storage.md) or set storage.driver"
                " to auto",
            )
        pool_fs = _pool_fs(fs or cfg.pool_fs)
        target = pool_dir or cfg.pool_path(data_dir)
        image_path = image or cfg.image_path(data_dir)
        notes = _config_notes(cfg.pool_path(data_dir), target, cfg.image_path(data_dir), image_path)
        wants_image = image is not None or cfg.pool_image is not None or image_path.exists()
        if not wants_image:
            verdict = self.probes.reflink(target)
            if verdict.ok or cfg.driver == "copy":
                target.mkdir(parents=True, exist_ok=True)
                note = "nothing to set up" if verdict.ok else "storage.driver is copy"
                return SetupResult(
                    target, None, None, (), None, verdict.ok, verdict.reason, (note, *notes)
                )
        size = (size_gb or cfg.pool_image_size_gb) * GIB
        spec = PoolSpec(image_path, target, size, pool_fs)
        report = await setup_pool(spec, unit_dir=unit_dir)
        return SetupResult(
            report.spec.mount_dir,
            report.spec.image,
            pool_fs,
            report.actions,
            report.unit,
            report.reflink.ok,
            report.reflink.reason,
            notes,
        )


def _pool_fs(value: str) -> PoolFs:
    allowed: tuple[PoolFs, ...] = get_args(PoolFs)
    for fs in allowed:
        if value == fs:
            return fs
    raise ValidationError(
        f"fs {value!r} is not a pool filesystem; allowed: {', '.join(allowed)}",
        field="fs",
        hint="btrfs and XFS (reflink=1) are the filesystems with copy-on-write clones",
    )


def _config_notes(
    configured_dir: Path, pool_dir: Path, configured_image: Path, image: Path
) -> tuple[str, ...]:
    notes = []
    if pool_dir != configured_dir:
        notes.append(f"set storage.pool_dir to {pool_dir} so the manager uses this pool")
    if image != configured_image:
        notes.append(f"set storage.pool_image to {image} so the manager finds the image")
    return tuple(notes)
