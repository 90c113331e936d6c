"""Choose the storage driver from `storage.driver` and what the host can do, with a reason.

`auto` prefers lvm-thin (the configured VG and thin pool exist and device-mapper works),
then reflink (the pool directory supports FICLONE), then copy, which it announces loudly:
a WARNING log and a reason saying every clone is a full, slow copy. An explicitly chosen
driver that cannot work is an error, never a silent fallback.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from atelier.runtime.host.detect import Verdict
from atelier.runtime.storage.base import Storage
from atelier.runtime.storage.config import StorageConfig
from atelier.runtime.storage.copy import CopyStorage
from atelier.runtime.storage.errors import PoolUnavailable
from atelier.runtime.storage.lvm_thin import LvmThinStorage
from atelier.runtime.storage.probe import HostProbes, StorageProbes
from atelier.runtime.storage.reflink import ReflinkStorage

log = logging.getLogger(__name__)

SETUP_HINT = "run `atelier storage setup` to create and mount a btrfs/XFS pool"


@dataclass(frozen=True)
class Selection:
    """The driver in use and why; `fallback` is True when auto settled for slow copies."""

    storage: Storage
    driver: str
    reason: str
    fallback: bool = False


async def select_storage(
    config: StorageConfig, data_dir: Path, *, probes: StorageProbes | None = None
) -> Selection:
    """The storage driver for this host and config, with the reason it was chosen.

    Raises PoolUnavailable when an explicitly configured driver cannot work here, or when
    a pool image that `atelier storage setup` made is not mounted (files written then
    would land under the mount point and vanish behind it once the pool is mounted).
    """
    probes = probes or HostProbes()
    pool_dir = config.pool_path(data_dir)
    if config.driver == "lvm-thin":
        verdict = await _lvm(config, probes)
        if not verdict.ok:
            raise PoolUnavailable(
                f"storage.driver is lvm-thin but {verdict.reason}",
                field="storage.driver",
                hint="create the VG and thin pool, or set storage.driver to auto",
            )
        return Selection(LvmThinStorage(config), "lvm-thin", f"configured: {verdict.reason}")
    if config.driver == "copy":
        return Selection(
            CopyStorage(pool_dir, config),
            "copy",
            f"configured: full sparse copies in {pool_dir} (clones are slow and use space)",
        )
    _require_mounted_image(config, data_dir, probes)
    if config.driver == "reflink":
        verdict = probes.reflink(pool_dir)
        if not verdict.ok:
            raise PoolUnavailable(
                f"storage.driver is reflink but {verdict.reason}",
                field="storage.driver",
                hint=SETUP_HINT,
            )
        return Selection(
            ReflinkStorage(pool_dir, config), "reflink", f"configured: {verdict.reason}"
        )
    return await _auto(config, pool_dir, probes)


async def _auto(config: StorageConfig, pool_dir: Path, probes: StorageProbes) -> Selection:
    lvm = await _lvm(config, probes)
    if lvm.ok:
        return Selection(LvmThinStorage(config), "lvm-thin", f"auto: {lvm.reason}")
    reflink = probes.reflink(pool_dir)
    if reflink.ok:
        return Selection(
            ReflinkStorage(pool_dir, config),
            "reflink",
            f"auto: {reflink.reason}; lvm-thin not used: {lvm.reason}",
        )
    reason = (
        f"auto: FELL BACK TO THE COPY DRIVER: {reflink.reason}, and lvm-thin is not available"
        f" ({lvm.reason}). Every clone is a full copy of its image: slow (seconds per GiB,"
        f" not milliseconds) and as large as the image. {SETUP_HINT[0].upper()}{SETUP_HINT[1:]}."
    )
    log.warning("storage: %s", reason)
    return Selection(CopyStorage(pool_dir, config), "copy", reason, fallback=True)


async def _lvm(config: StorageConfig, probes: StorageProbes) -> Verdict:
    dm = await probes.device_mapper()
    if not dm.ok:
        return dm
    return await probes.thin_pool(config.volume_group, config.thin_pool)


def _require_mounted_image(config: StorageConfig, data_dir: Path, probes: StorageProbes) -> None:
    image = config.image_path(data_dir)
    if config.pool_image is None and not _exists(image):
        return
    pool_dir = config.pool_path(data_dir)
    source = probes.mounted_from(pool_dir)
    if source is not None and os.path.realpath(source) == os.path.realpath(image):
        return
    found = f"{source} is mounted there" if source else "nothing is mounted there"
    raise PoolUnavailable(
        f"storage pool image {image} is not mounted on {pool_dir} ({found})",
        field="storage.pool_image",
        hint="run `atelier storage setup` (it mounts the pool again), or check the"
        " pool's .mount unit with `systemctl status`",
    )


def _exists(path: Path) -> bool:
    return path.exists()
