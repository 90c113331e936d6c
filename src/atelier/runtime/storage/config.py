"""Configuration section for sandbox volumes (`storage`).

Declares where volumes live (a pool directory, optionally a loop-mounted pool image, or an
LVM thin pool), which driver clones them, and the free-space reserve below which new
volumes are refused. Resolving defaults against `paths.data_dir` happens here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StorageDriverName = Literal["auto", "reflink", "lvm-thin", "copy"]
PoolFs = Literal["btrfs", "xfs"]

GIB = 1024**3
MIB = 1024**2


class StorageConfig(BaseModel):
    """Where sandbox volumes live and how they are cloned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    driver: StorageDriverName = Field(
        "auto",
        description="auto: lvm-thin when the VG and thin pool exist, else reflink when the"
        " pool supports FICLONE, else copy (slow, full copies)",
    )
    pool_dir: Path | None = Field(None, description="file pool; default <data_dir>/pool")
    pool_image: Path | None = Field(
        None,
        description="loop-mounted pool image created by `atelier storage setup`;"
        " default <data_dir>/pool.img when setup had to create one",
    )
    pool_image_size_gb: int = Field(64, ge=1)
    pool_fs: PoolFs = Field(
        "xfs",
        description="filesystem of a pool image made by `atelier storage setup`; XFS clones"
        " take the same time at any image size, btrfs clones grow with the extent count",
    )
    volume_group: str = Field("atelier", pattern=r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$")
    thin_pool: str = Field("atl-thinpool", pattern=r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$")
    reserve_percent: float = Field(
        5.0, ge=0, le=90, description="refuse clones when free space is below this"
    )
    reserve_gb: float = Field(1.0, ge=0, description="…or below this many GiB")
    full_free_mb: int = Field(
        128,
        ge=0,
        description="the pool watcher reports the pool full below this many MiB free",
    )
    watch_interval_s: float = Field(
        5.0, gt=0, description="how often the pool watcher samples free space"
    )

    def pool_path(self, data_dir: Path) -> Path:
        """The directory file-based drivers keep volumes in."""
        return self.pool_dir or data_dir / "pool"

    def image_path(self, data_dir: Path) -> Path:
        """The loop-mounted pool image `atelier storage setup` creates or reuses."""
        return self.pool_image or data_dir / "pool.img"

    def reserve_bytes(self, total: int) -> int:
        """The free space to keep: the larger of reserve_percent of `total` and reserve_gb."""
        return max(int(total * self.reserve_percent / 100), int(self.reserve_gb * GIB))
