"""The `lvm-thin` driver: volumes as thin LVs in an LVM thin pool, clones as thin snapshots.

A base is a thin LV the image is written into; a clone is `lvcreate --snapshot
--setactivationskip n` of it (active at once, no `-K` needed), grown with `lvextend`; a
prebuild is a snapshot made read-only with `lvchange --permission r`. Metadata lives in LV
tags (`atelier`, `atl.origin.<name>`, `atl.created.<epoch>`), so `list()` rebuilds from
`lvs` alone. Every command is built by a pure function in `lvm_commands`; the driver only runs them
through an injectable runner (proc.run by default).
"""

from __future__ import annotations

import asyncio
import builtins
import os
from datetime import UTC, datetime
from pathlib import Path

from atelier.errors import AtelierError, CommandError, ValidationError
from atelier.runtime.host import proc
from atelier.runtime.storage import _extents
from atelier.runtime.storage._checks import (
    ANY_KIND,
    refuse_delete_with_clones,
    refuse_shrink,
    volume_name,
)
from atelier.runtime.storage.base import PoolUsage, Usage, Volume, VolumeUsage
from atelier.runtime.storage.config import StorageConfig
from atelier.runtime.storage.errors import (
    PoolFull,
    PoolUnavailable,
    StorageError,
    VolumeExists,
    VolumeInUse,
    VolumeNotFound,
    VolumeReadOnly,
)
from atelier.runtime.storage.lvm_commands import (
    CREATED_TAG,
    LVM_TIMEOUT,
    Runner,
    create_thin_argv,
    extend_argv,
    is_ours,
    list_argv,
    origin_of,
    parse_lvs,
    percent,
    permission_argv,
    pool_argv,
    remove_argv,
    snapshot_argv,
    tag_args,
    tags,
    thin_pool_usage,
)
from atelier.runtime.storage.reserve import ensure_reserve

# --- the driver -----------------------------------------------------------------------------


class LvmThinStorage:
    """The Storage Protocol over an LVM thin pool."""

    name: str = "lvm-thin"

    def __init__(
        self, config: StorageConfig, *, run: Runner = proc.run, dev_dir: Path = Path("/dev")
    ) -> None:
        self.config = config
        self.vg = config.volume_group
        self.pool = config.thin_pool
        self._run = run
        self.dev_dir = dev_dir

    async def import_base(self, source: Path, name: str) -> Volume:
        """Create a thin LV of the image's size, write the image into it, make it read-only."""
        volume_name(name, ("base",), "name")
        size = _source_size(source)
        await self._refuse_existing(name)
        await self.check_reserve(size, purpose=f"import {name}")
        created = datetime.now(UTC)
        await self._lvm(create_thin_argv(self.vg, self.pool, name, size, tag_args(None, created)))
        try:
            await asyncio.to_thread(self._write_image, source, self.device(name))
            await self._lvm(permission_argv(self.vg, name, read_only=True))
        except BaseException:
            await asyncio.shield(self._lvm(remove_argv(self.vg, name)))
            raise
        return await self.get(name)

    async def clone(self, source: str, name: str, *, size: int | None = None) -> Volume:
        """Thin-snapshot a base or prebuild into a writable sandbox volume, then grow it."""
        volume_name(source, ("base", "pre"), "source")
        volume_name(name, ("sbx",), "name")
        volumes = await self._volumes()
        origin = _find(volumes, source)
        if size is not None:
            refuse_shrink(source, origin.size, size)
        if name in volumes:
            raise VolumeExists(f"volume {name} already exists in {self.vg}", field="name")
        await self.check_reserve(purpose=f"clone {source} into {name}")
        await self._lvm(snapshot_argv(self.vg, source, name, tag_args(source, _now())))
        try:
            if origin.read_only:  # a snapshot may inherit the origin's read-only permission
                await self._lvm(permission_argv(self.vg, name, read_only=False))
            if size is not None and size > origin.size:
                await self._lvm(extend_argv(self.vg, name, size))
        except BaseException:
            await asyncio.shield(self._lvm(remove_argv(self.vg, name)))
            raise
        return await self.get(name)

    async def snapshot(self, source: str, name: str) -> Volume:
        """Thin-snapshot a sandbox volume into a read-only prebuild."""
        volume_name(source, ("sbx",), "source")
        volume_name(name, ("pre",), "name")
        volumes = await self._volumes()
        _find(volumes, source)
        if name in volumes:
            raise VolumeExists(f"volume {name} already exists in {self.vg}", field="name")
        await self.check_reserve(purpose=f"snapshot {source} into {name}")
        await self._lvm(snapshot_argv(self.vg, source, name, tag_args(source, _now())))
        try:
            await self._lvm(permission_argv(self.vg, name, read_only=True))
        except BaseException:
            await asyncio.shield(self._lvm(remove_argv(self.vg, name)))
            raise
        return await self.get(name)

    async def resize(self, name: str, size: int) -> Volume:
        """Grow a sandbox volume with lvextend."""
        volume = await self.get(name)
        if volume.read_only:
            raise VolumeReadOnly(
                f"volume {name} is a read-only {volume.kind}; only sandbox volumes grow",
                field="name",
            )
        refuse_shrink(name, volume.size, size)
        if size > volume.size:
            await self._lvm(extend_argv(self.vg, name, size))
        return await self.get(name)

    async def delete(self, name: str, *, force: bool = False) -> None:
        """lvremove; refused while the LV is open or (unless forced) has clones."""
        volume_name(name, ANY_KIND, "name")
        rows = {row["lv_name"]: row for row in await self._rows()}
        if name not in rows or not is_ours(rows[name]):
            raise _not_found(name, self.vg)
        if not force:
            clones = [n for n, row in rows.items() if origin_of(row) == name and is_ours(row)]
            refuse_delete_with_clones(name, clones)
        if rows[name].get("lv_attr", "")[5:6] == "o":
            raise _in_use(name)
        try:
            await self._run(remove_argv(self.vg, name), timeout=LVM_TIMEOUT)
        except CommandError as exc:
            if "in use" in exc.stderr or "open" in exc.stderr:
                raise _in_use(name) from exc
            raise _lvm_error(exc) from exc

    async def get(self, name: str) -> Volume:
        """One volume by name."""
        volume_name(name, ANY_KIND, "name")
        return _find(await self._volumes(), name)

    async def list(self) -> tuple[Volume, ...]:
        """Every Atelier LV in the volume group."""
        return tuple(sorted((await self._volumes()).values(), key=lambda v: v.name))

    async def pool_usage(self) -> PoolUsage:
        """The thin pool's data size and fill level from lvs."""
        try:
            done = await self._run(pool_argv(self.vg, self.pool), timeout=LVM_TIMEOUT)
        except CommandError as exc:
            raise PoolUnavailable(
                f"thin pool {self.vg}/{self.pool} is not available: {exc.message}",
                field="storage.thin_pool",
                hint="create it (lvcreate --type thin-pool) or set storage.volume_group and"
                " storage.thin_pool",
            ) from exc
        rows = parse_lvs(done.text)
        if not rows:
            raise PoolUnavailable(f"thin pool {self.vg}/{self.pool} not found")
        volumes = sum(1 for row in await self._rows() if is_ours(row))
        return thin_pool_usage(self.config, f"{self.vg}/{self.pool}", rows[0], volumes)

    async def usage(self) -> Usage:
        """The pool plus each LV's mapped bytes (thin pools do not report sharing)."""
        pool = await self.pool_usage()
        volumes = []
        for row in await self._rows():
            if not is_ours(row):
                continue
            size = int(row["lv_size"])
            allocated = int(size * percent(row.get("data_percent", "")) / 100)
            volumes.append(VolumeUsage(row["lv_name"], size, allocated))
        return Usage(pool, tuple(sorted(volumes, key=lambda v: v.name)))

    async def check_reserve(self, needed: int = 0, *, purpose: str = "") -> PoolUsage:
        """The pool usage, or PoolFull when the reserve would be broken."""
        return ensure_reserve(await self.pool_usage(), self.config, needed, purpose)

    def device(self, name: str) -> Path:
        """The block device of an LV."""
        return self.dev_dir / self.vg / name

    # --- internals -----------------------------------------------------------------------

    async def _lvm(self, argv: builtins.list[str]) -> proc.Completed:
        try:
            return await self._run(argv, timeout=LVM_TIMEOUT)
        except CommandError as exc:
            raise _lvm_error(exc) from exc

    async def _rows(self) -> builtins.list[dict[str, str]]:
        try:
            done = await self._run(list_argv(self.vg), timeout=LVM_TIMEOUT)
        except CommandError as exc:
            raise PoolUnavailable(
                f"volume group {self.vg} is not available: {exc.message}",
                field="storage.volume_group",
                hint="create it (vgcreate) or set storage.volume_group",
            ) from exc
        return parse_lvs(done.text)

    async def _volumes(self) -> dict[str, Volume]:
        volumes = {}
        for row in await self._rows():
            if is_ours(row):
                volume = _volume(row, self.device(row["lv_name"]))
                volumes[volume.name] = volume
        return volumes

    async def _refuse_existing(self, name: str) -> None:
        if name in await self._volumes():
            raise VolumeExists(f"volume {name} already exists in {self.vg}", field="name")

    @staticmethod
    def _write_image(source: Path, device: Path) -> None:
        src_fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
        try:
            dst_fd = os.open(device, os.O_WRONLY | os.O_CLOEXEC)
            try:
                _extents.sparse_copy(src_fd, dst_fd, os.fstat(src_fd).st_size)
            finally:
                os.close(dst_fd)
        finally:
            os.close(src_fd)


def _volume(row: dict[str, str], device: Path) -> Volume:
    name = row["lv_name"]
    created = next((t[len(CREATED_TAG) :] for t in tags(row) if t.startswith(CREATED_TAG)), "0")
    return Volume(
        name=name,
        kind=volume_name(name, ANY_KIND, "name").kind,
        driver=LvmThinStorage.name,
        path=device,
        size=int(row["lv_size"]),
        created=datetime.fromtimestamp(int(created) if created.isdigit() else 0, UTC),
        origin=origin_of(row),
        read_only=row.get("lv_attr", "")[1:2] == "r",
    )


def _find(volumes: dict[str, Volume], name: str) -> Volume:
    volume = volumes.get(name)
    if volume is None:
        raise _not_found(name, "")
    return volume


def _not_found(name: str, vg: str) -> VolumeNotFound:
    where = f" in volume group {vg}" if vg else ""
    return VolumeNotFound(
        f"no volume {name}{where}",
        field="name",
        hint="`atelier storage list` shows the volumes that exist",
    )


def _in_use(name: str) -> VolumeInUse:
    return VolumeInUse(
        f"volume {name} is open (a VM or mount still uses it)",
        field="name",
        hint="stop the sandbox using it, then delete again",
    )


def _lvm_error(exc: CommandError) -> AtelierError:
    text = exc.stderr.lower()
    if "insufficient free space" in text or "out of data space" in text or "is full" in text:
        return PoolFull(
            f"thin pool is out of space: {exc.message}",
            hint="free space in the pool or extend it (lvextend of the thin pool)",
        )
    if "already exists" in text:
        return VolumeExists(exc.message)
    return StorageError(f"lvm command failed: {exc.message}")


def _now() -> datetime:
    return datetime.now(UTC)


def _source_size(source: Path) -> int:
    try:
        st = source.stat()
    except OSError as exc:
        raise ValidationError(
            f"source {source} cannot be read: {exc.strerror}", field="source"
        ) from exc
    return st.st_size
