"""The free-space reserve: the arithmetic and the refusal every driver shares.

A pool is below its reserve when its free space is under the larger of
`storage.reserve_percent` of its size and `storage.reserve_gb`. New volumes are refused
then, so running sandboxes keep room to write. Pure functions only.
"""

from __future__ import annotations

import os

from atelier.runtime.storage.base import PoolUsage, format_bytes
from atelier.runtime.storage.config import MIB, StorageConfig
from atelier.runtime.storage.errors import PoolFull


def pool_usage_from_statvfs(
    config: StorageConfig,
    *,
    driver: str,
    pool: str,
    fs: str,
    st: os.statvfs_result,
    volumes: int,
) -> PoolUsage:
    """PoolUsage of a filesystem pool from its statvfs(2) figures."""
    total = st.f_blocks * st.f_frsize
    return PoolUsage(
        driver=driver,
        pool=pool,
        fs=fs,
        total=total,
        used=(st.f_blocks - st.f_bfree) * st.f_frsize,
        free=st.f_bavail * st.f_frsize,
        reserve=config.reserve_bytes(total),
        full_below=config.full_free_mb * MIB,
        volumes=volumes,
    )


def ensure_reserve(
    usage: PoolUsage, config: StorageConfig, needed: int = 0, purpose: str = ""
) -> PoolUsage:
    """`usage` unchanged, or PoolFull when `needed` more bytes would leave less free space
    than the reserve. The message names the pool, its free space, the reserve and the
    config keys that set it."""
    if usage.free - needed >= usage.reserve and usage.free > 0:
        return usage
    action = f"refusing to {purpose}: " if purpose else ""
    if needed:
        shortfall = f"; this needs {format_bytes(needed)}, which would leave less than its reserve"
    else:
        shortfall = ", below its reserve"
    raise PoolFull(
        f"{action}storage pool {usage.pool} ({usage.driver} on {usage.fs}) has"
        f" {format_bytes(usage.free)} free of {format_bytes(usage.total)}{shortfall}"
        f" of {format_bytes(usage.reserve)} (the larger of"
        f" storage.reserve_percent={config.reserve_percent:g}% and"
        f" storage.reserve_gb={config.reserve_gb:g})",
        hint="delete sandboxes or prebuilds you no longer need (`atelier storage list`),"
        " grow the pool, or lower storage.reserve_percent / storage.reserve_gb",
        field="storage.reserve_percent",
    )
