"""Sandbox volumes: copy-on-write clones of base images and prebuilds (reflink, lvm-thin, copy).

The manager builds its driver with `select_storage(config.storage, config.paths.data_dir)`
and talks to it through the `Storage` Protocol; `PoolWatcher` reports when the pool runs
low or full; `setup_pool` creates a loop-mounted reflink pool on hosts without one.
"""

from atelier.runtime.storage.base import (
    PoolLevel,
    PoolUsage,
    Storage,
    Usage,
    Volume,
    VolumeUsage,
    format_bytes,
)
from atelier.runtime.storage.errors import (
    InvalidVolumeName,
    PoolFull,
    PoolUnavailable,
    ShrinkRefused,
    StorageError,
    VolumeExists,
    VolumeHasClones,
    VolumeInUse,
    VolumeNotFound,
    VolumeReadOnly,
)
from atelier.runtime.storage.pool import PoolSpec, SetupReport, setup_pool, teardown_pool
from atelier.runtime.storage.select import Selection, select_storage
from atelier.runtime.storage.watch import PoolEvent, PoolWatcher

__all__ = [
    "InvalidVolumeName",
    "PoolEvent",
    "PoolFull",
    "PoolLevel",
    "PoolSpec",
    "PoolUnavailable",
    "PoolUsage",
    "PoolWatcher",
    "Selection",
    "SetupReport",
    "ShrinkRefused",
    "Storage",
    "StorageError",
    "Usage",
    "Volume",
    "VolumeExists",
    "VolumeHasClones",
    "VolumeInUse",
    "VolumeNotFound",
    "VolumeReadOnly",
    "VolumeUsage",
    "format_bytes",
    "select_storage",
    "setup_pool",
    "teardown_pool",
]
