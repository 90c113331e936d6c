"""Volumes as raw image files in one directory: what the reflink and copy drivers share.

Each volume is `<pool>/<name>.img` with a sidecar `<pool>/<name>.json` holding its origin,
read-only flag and creation time, so `list()` rebuilds everything from the directory alone.
A volume is built under a hidden `.<name>.img.partial` name and hard-linked into place, so
a crash never leaves a half-written image under a volume name. Subclasses only say how the
bytes get from the source to the new file (`_fill`) and what that costs in space.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import json
import os
import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from atelier.errors import AtelierError, ValidationError
from atelier.runtime.host.names import parse_volume
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
    VolumeNotFound,
    VolumeReadOnly,
)
from atelier.runtime.storage.probe import existing_ancestor, fs_type
from atelier.runtime.storage.reserve import ensure_reserve, pool_usage_from_statvfs

IMAGE_SUFFIX = ".img"
META_SUFFIX = ".json"
PARTIAL_SUFFIX = ".partial"
READ_ONLY_MODE = 0o444
WRITABLE_MODE = 0o644
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


class FilePool:
    """The Storage Protocol over a directory of raw image files (see the module docstring)."""

    name: str = "file"

    def __init__(self, pool_dir: Path, config: StorageConfig) -> None:
        self.pool_dir = pool_dir
        self.config = config

    # --- what subclasses provide -------------------------------------------------------

    async def _fill(self, src_fd: int, dst_fd: int) -> None:
        """Make the new empty file `dst_fd` hold the contents of `src_fd`. Both stay open
        until this returns (also when it is cancelled)."""
        raise NotImplementedError

    def _cost(self, source: os.stat_result) -> int:
        """Bytes of pool space a copy of a file with this stat takes right away."""
        raise NotImplementedError

    async def _sharing(self, paths: builtins.list[Path], fs: str) -> _extents.Sharing:
        """Shared/exclusive bytes per file and for the pool (FIEMAP; drivers may refine)."""
        del fs
        return await _extents.fiemap_sharing(paths)

    # --- the Protocol ------------------------------------------------------------------

    async def import_base(self, source: Path, name: str) -> Volume:
        """Copy (or reflink, on the same filesystem) a raw image into the pool as a base."""
        volume_name(name, ("base",), "name")
        st = _source_stat(source)
        self._ensure_dir()
        self._refuse_existing(name)
        await self._ensure_space(self._import_cost(st), f"import {name}")
        return await self._materialize(source, name, origin=None, read_only=True)

    async def clone(self, source: str, name: str, *, size: int | None = None) -> Volume:
        """Clone a base or prebuild into a writable sandbox volume."""
        volume_name(source, ("base", "pre"), "source")
        volume_name(name, ("sbx",), "name")
        src = self._stat(source)
        if size is not None:
            refuse_shrink(source, src.st_size, size)
        self._refuse_existing(name)
        await self._ensure_space(self._cost(src), f"clone {source} into {name}")
        return await self._materialize(
            self._image(source), name, origin=source, read_only=False, size=size
        )

    async def snapshot(self, source: str, name: str) -> Volume:
        """Freeze a sandbox volume into a read-only prebuild."""
        volume_name(source, ("sbx",), "source")
        volume_name(name, ("pre",), "name")
        src = self._stat(source)
        self._refuse_existing(name)
        await self._ensure_space(self._cost(src), f"snapshot {source} into {name}")
        return await self._materialize(self._image(source), name, origin=source, read_only=True)

    async def resize(self, name: str, size: int) -> Volume:
        """Grow a sandbox volume's file (it stays sparse)."""
        volume = await self.get(name)
        if volume.read_only:
            raise VolumeReadOnly(
                f"volume {name} is a read-only {volume.kind}; only sandbox volumes grow",
                field="name",
                hint="clone it into a sandbox volume and resize that",
            )
        refuse_shrink(name, volume.size, size)
        if size == volume.size:
            return volume
        try:
            os.truncate(volume.path, size)
        except OSError as exc:
            raise StorageError(
                f"cannot grow {volume.path} to {size} bytes: {exc.strerror}"
            ) from exc
        return await self.get(name)

    async def delete(self, name: str, *, force: bool = False) -> None:
        """Remove a volume and its sidecar; refuse while it has clones unless forced."""
        volume_name(name, ANY_KIND, "name")
        self._stat(name)
        if not force:
            refuse_delete_with_clones(name, [v.name for v in await self.list() if v.origin == name])
        try:
            self._image(name).unlink()
        except FileNotFoundError as exc:
            raise self._not_found(name) from exc
        except OSError as exc:
            raise StorageError(f"cannot delete {self._image(name)}: {exc.strerror}") from exc
        for leftover in (self._meta(name), self._partial(name), self._meta_partial(name)):
            leftover.unlink(missing_ok=True)

    async def get(self, name: str) -> Volume:
        """One volume by name."""
        volume_name(name, ANY_KIND, "name")
        return self._read(name, self._stat(name))

    async def list(self) -> tuple[Volume, ...]:
        """Every volume file in the pool that carries an Atelier volume name."""
        volumes = []
        for name, st in self._scan():
            volumes.append(self._read(name, st))
        return tuple(sorted(volumes, key=lambda v: v.name))

    async def pool_usage(self) -> PoolUsage:
        """statvfs of the pool's filesystem, with the volume count."""
        return self._statvfs_usage(volumes=sum(1 for _ in self._scan()))

    async def usage(self) -> Usage:
        """The pool plus each volume's allocated, shared and exclusive bytes."""
        found = self._scan()
        pool = self._statvfs_usage(volumes=len(found))
        sharing = await self._sharing([self._image(name) for name, _ in found], pool.fs)
        volumes = []
        for name, st in found:
            split = sharing.files.get(self._image(name))
            volumes.append(
                VolumeUsage(
                    name=name,
                    size=st.st_size,
                    allocated=st.st_blocks * 512,
                    shared=split[0] if split else None,
                    exclusive=split[1] if split else None,
                )
            )
        pool = replace(pool, shared=sharing.shared, exclusive=sharing.exclusive)
        return Usage(pool, tuple(sorted(volumes, key=lambda v: v.name)))

    async def check_reserve(self, needed: int = 0, *, purpose: str = "") -> PoolUsage:
        """The pool usage, or PoolFull when the reserve would be broken."""
        return ensure_reserve(await self.pool_usage(), self.config, needed, purpose)

    # --- internals ---------------------------------------------------------------------

    def _image(self, name: str) -> Path:
        return self.pool_dir / f"{name}{IMAGE_SUFFIX}"

    def _meta(self, name: str) -> Path:
        return self.pool_dir / f"{name}{META_SUFFIX}"

    def _partial(self, name: str) -> Path:
        return self.pool_dir / f".{name}{IMAGE_SUFFIX}{PARTIAL_SUFFIX}"

    def _meta_partial(self, name: str) -> Path:
        return self.pool_dir / f".{name}{META_SUFFIX}{PARTIAL_SUFFIX}"

    def _ensure_dir(self) -> None:
        try:
            self.pool_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PoolUnavailable(
                f"cannot create storage pool directory {self.pool_dir}: {exc.strerror}",
                field="storage.pool_dir",
                hint="run `atelier storage setup` or set storage.pool_dir",
            ) from exc

    def _not_found(self, name: str) -> VolumeNotFound:
        return VolumeNotFound(
            f"no volume {name} in storage pool {self.pool_dir}",
            field="name",
            hint="`atelier storage list` shows the volumes that exist",
        )

    def _stat(self, name: str) -> os.stat_result:
        try:
            return self._image(name).stat()
        except FileNotFoundError as exc:
            raise self._not_found(name) from exc
        except OSError as exc:
            raise StorageError(f"cannot read {self._image(name)}: {exc.strerror}") from exc

    def _refuse_existing(self, name: str) -> None:
        if self._image(name).exists():
            raise VolumeExists(f"volume {name} already exists in {self.pool_dir}", field="name")

    def _import_cost(self, source: os.stat_result) -> int:
        return self._cost(source)

    async def _ensure_space(self, needed: int, purpose: str) -> None:
        ensure_reserve(self._statvfs_usage(volumes=0), self.config, needed, purpose)

    def _statvfs_usage(self, *, volumes: int) -> PoolUsage:
        where = existing_ancestor(self.pool_dir)  # a pool dir not made yet lives there
        try:
            st = os.statvfs(where)
            fs = fs_type(where)
        except OSError as exc:
            raise PoolUnavailable(
                f"storage pool {self.pool_dir} is not available: {exc.strerror}",
                field="storage.pool_dir",
                hint="run `atelier storage setup` (it creates and mounts the pool)",
            ) from exc
        return pool_usage_from_statvfs(
            self.config, driver=self.name, pool=str(self.pool_dir), fs=fs, st=st, volumes=volumes
        )

    def _scan(self) -> builtins.list[tuple[str, os.stat_result]]:
        found = []
        try:
            entries = list(os.scandir(self.pool_dir))
        except FileNotFoundError:
            return []
        for entry in entries:
            if not entry.name.endswith(IMAGE_SUFFIX) or entry.name.startswith("."):
                continue
            name = entry.name.removesuffix(IMAGE_SUFFIX)
            if parse_volume(name) is None:
                continue
            with contextlib.suppress(FileNotFoundError):  # deleted while we scanned
                found.append((name, entry.stat()))
        return found

    def _read(self, name: str, st: os.stat_result) -> Volume:
        meta = _load_meta(self._meta(name))
        kind = volume_name(name, ANY_KIND, "name").kind
        created = meta.get("created")
        read_only = meta.get("read_only")
        origin = meta.get("origin")
        return Volume(
            name=name,
            kind=kind,
            driver=self.name,
            path=self._image(name),
            size=st.st_size,
            created=(
                datetime.fromisoformat(created)
                if isinstance(created, str)
                else datetime.fromtimestamp(st.st_mtime, UTC)
            ),
            origin=origin if isinstance(origin, str) else None,
            read_only=read_only if isinstance(read_only, bool) else not st.st_mode & 0o222,
        )

    async def _materialize(
        self,
        source: Path,
        name: str,
        *,
        origin: str | None,
        read_only: bool,
        size: int | None = None,
    ) -> Volume:
        # Build under an exclusive hidden name, write the sidecar, then link into place:
        # a crash never leaves a partial image under a volume name.
        partial, meta_partial = self._partial(name), self._meta_partial(name)
        image = self._image(name)
        created = datetime.now(UTC)
        try:
            src_fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise _translate(exc, name, self.pool_dir) from exc
        try:
            try:
                dst_fd = os.open(partial, _CREATE, WRITABLE_MODE)
            except FileExistsError as exc:
                raise VolumeExists(f"volume {name} is being created already", field="name") from exc
            try:
                final_size = await self._build(src_fd, dst_fd, size, read_only)
                _write_meta(meta_partial, name, origin, read_only, created)
                os.link(partial, image)
                os.replace(meta_partial, self._meta(name))
            except FileExistsError as exc:
                raise VolumeExists(f"volume {name} already exists in {self.pool_dir}") from exc
            except OSError as exc:
                raise _translate(exc, name, self.pool_dir) from exc
            finally:
                partial.unlink(missing_ok=True)
                meta_partial.unlink(missing_ok=True)
        finally:
            os.close(src_fd)
        kind = volume_name(name, ANY_KIND, "name").kind
        return Volume(name, kind, self.name, image, final_size, created, origin, read_only)

    async def _build(self, src_fd: int, dst_fd: int, size: int | None, read_only: bool) -> int:
        """Fill, grow and protect the new file; closes `dst_fd`. Returns its size."""
        try:
            await self._fill(src_fd, dst_fd)
            final_size = os.fstat(dst_fd).st_size
            if size is not None and size > final_size:
                os.ftruncate(dst_fd, size)
                final_size = size
            if read_only:
                os.fchmod(dst_fd, READ_ONLY_MODE)
        finally:
            os.close(dst_fd)
        return final_size


def _write_meta(
    path: Path, name: str, origin: str | None, read_only: bool, created: datetime
) -> None:
    meta = {"name": name, "origin": origin, "read_only": read_only,
            "created": created.isoformat()}  # fmt: skip
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, WRITABLE_MODE)
    try:
        os.write(fd, json.dumps(meta).encode() + b"\n")
    finally:
        os.close(fd)


def _source_stat(source: Path) -> os.stat_result:
    try:
        st = source.stat()
    except OSError as exc:
        raise ValidationError(
            f"source {source} cannot be read: {exc.strerror}",
            field="source",
            hint="pass the path of a raw ext4 image file",
        ) from exc
    if not stat.S_ISREG(st.st_mode):
        raise ValidationError(
            f"source {source} is not a regular file",
            field="source",
            hint="pass the path of a raw ext4 image file",
        )
    return st


def _translate(exc: OSError, name: str, pool: Path) -> AtelierError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return PoolFull(
            f"storage pool {pool} ran out of space while creating {name}",
            hint="free space in the pool (delete unused sandboxes or prebuilds) and retry",
        )
    return StorageError(f"cannot create volume {name} in {pool}: {exc.strerror or exc}")


def _load_meta(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
