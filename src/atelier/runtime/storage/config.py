"""Configuration section for sandbox volumes (`storage`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StorageDriverName = Literal["auto", "reflink", "lvm-thin", "copy"]


class StorageConfig(BaseModel):
    """Where sandbox volumes live and how they are cloned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    driver: StorageDriverName = "auto"
    pool_dir: Path | None = Field(None, description="file pool; default <data_dir>/pool")
    pool_image: Path | None = Field(
        None, description="loop-mounted pool image created by `atelier storage setup`"
    )
    pool_image_size_gb: int = Field(64, ge=1)
    pool_fs: Literal["btrfs", "xfs"] = "btrfs"
    volume_group: str = "atelier"
    thin_pool: str = "atl-thinpool"
    reserve_percent: float = Field(
        5.0, ge=0, le=90, description="refuse clones when free space is below this"
    )
    reserve_gb: float = Field(1.0, ge=0, description="…or below this many GiB")
