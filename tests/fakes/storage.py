"""In-memory fakes for the storage concern: a Storage driver and the selection probes.

`FakeStorage` implements the `Storage` Protocol with the same rules as the real drivers
(name kinds, reserve, clones block deletes, grow only) and no files, for spawn, rollback and
watcher tests. Set `free` to simulate a filling pool and `fail` to inject an error into
the next call of a method. `FakeProbes` answers driver selection's host questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from atelier.errors import AtelierError
from atelier.runtime.host.detect import Verdict
from atelier.runtime.host.names import VolumeKind, parse_volume
from atelier.runtime.storage import (
    InvalidVolumeName,
    PoolFull,
    PoolUsage,
    ShrinkRefused,
    Usage,
    Volume,
    VolumeExists,
    VolumeHasClones,
    VolumeNotFound,
    VolumeReadOnly,
    VolumeUsage,
)

GIB = 1024**3


class FakeStorage:
    """A Storage driver over a dict. `calls` records (method, name) in order."""

    name = "fake"

    def __init__(
        self,
        *,
        total: int = 100 * GIB,
        free: int | None = None,
        reserve: int = GIB,
        full_below: int = 128 * 1024**2,
    ) -> None:
        self.volumes: dict[str, Volume] = {}
        self.total = total
        self.free = total if free is None else free
        self.reserve = reserve
        self.full_below = full_below
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[str, AtelierError] = {}

    def _enter(self, method: str, name: str) -> None:
        self.calls.append((method, name))
        error = self.fail.pop(method, None)
        if error is not None:
            raise error

    def _check(self, name: str, kinds: Sequence[VolumeKind]) -> VolumeKind:
        parsed = parse_volume(name)
        if parsed is None or parsed.kind not in kinds:
            raise InvalidVolumeName(f"{name!r} is not a {'/'.join(kinds)} volume name")
        return parsed.kind

    def _get(self, name: str) -> Volume:
        if name not in self.volumes:
            raise VolumeNotFound(f"no volume {name}")
        return self.volumes[name]

    def _add(self, name: str, size: int, origin: str | None, read_only: bool) -> Volume:
        if name in self.volumes:
            raise VolumeExists(f"volume {name} exists")
        volume = Volume(
            name=name,
            kind=self._check(name, ("base", "pre", "sbx")),
            driver=self.name,
            path=Path("/fake") / f"{name}.img",
            size=size,
            created=datetime.now(UTC),
            origin=origin,
            read_only=read_only,
        )
        self.volumes[name] = volume
        return volume

    async def import_base(self, source: Path, name: str) -> Volume:
        self._enter("import_base", name)
        self._check(name, ("base",))
        await self.check_reserve()
        return self._add(name, GIB, None, True)

    async def clone(self, source: str, name: str, *, size: int | None = None) -> Volume:
        self._enter("clone", name)
        self._check(source, ("base", "pre"))
        self._check(name, ("sbx",))
        origin = self._get(source)
        if size is not None and size < origin.size:
            raise ShrinkRefused(f"size {size} < {origin.size}")
        await self.check_reserve()
        return self._add(name, max(size or 0, origin.size), source, False)

    async def snapshot(self, source: str, name: str) -> Volume:
        self._enter("snapshot", name)
        self._check(source, ("sbx",))
        self._check(name, ("pre",))
        origin = self._get(source)
        await self.check_reserve()
        return self._add(name, origin.size, source, True)

    async def resize(self, name: str, size: int) -> Volume:
        self._enter("resize", name)
        volume = self._get(name)
        if volume.read_only:
            raise VolumeReadOnly(f"{name} is read-only")
        if size < volume.size:
            raise ShrinkRefused(f"size {size} < {volume.size}")
        self.volumes[name] = replace(volume, size=size)
        return self.volumes[name]

    async def delete(self, name: str, *, force: bool = False) -> None:
        self._enter("delete", name)
        self._get(name)
        clones = [v.name for v in self.volumes.values() if v.origin == name]
        if clones and not force:
            raise VolumeHasClones(f"{name} has clones: {', '.join(sorted(clones))}")
        del self.volumes[name]

    async def get(self, name: str) -> Volume:
        self._enter("get", name)
        return self._get(name)

    async def list(self) -> tuple[Volume, ...]:
        self._enter("list", "")
        return tuple(sorted(self.volumes.values(), key=lambda v: v.name))

    async def pool_usage(self) -> PoolUsage:
        self._enter("pool_usage", "")
        return PoolUsage(
            driver=self.name,
            pool="fake",
            fs="fake",
            total=self.total,
            used=self.total - self.free,
            free=self.free,
            reserve=self.reserve,
            full_below=self.full_below,
            volumes=len(self.volumes),
        )

    async def usage(self) -> Usage:
        pool = await self.pool_usage()
        return Usage(pool, tuple(VolumeUsage(v.name, v.size, 0) for v in self.volumes.values()))

    async def check_reserve(self, needed: int = 0, *, purpose: str = "") -> PoolUsage:
        pool = await self.pool_usage()
        if pool.free - needed < pool.reserve:
            raise PoolFull(f"refusing to {purpose or 'create a volume'}: pool below reserve")
        return pool


@dataclass
class FakeProbes:
    """Scripted answers to the storage selection probes; `asked` records the questions."""

    dm: Verdict = field(default_factory=lambda: Verdict(False, "no device-mapper (fake)"))
    thin: Verdict = field(default_factory=lambda: Verdict(False, "no thin pool (fake)"))
    reflinks: Verdict = field(default_factory=lambda: Verdict(False, "ext4 cannot reflink (fake)"))
    mounts: dict[str, str] = field(default_factory=dict)  # mount dir -> source
    asked: list[str] = field(default_factory=list)

    async def device_mapper(self) -> Verdict:
        self.asked.append("device_mapper")
        return self.dm

    async def thin_pool(self, volume_group: str, pool: str) -> Verdict:
        self.asked.append(f"thin_pool {volume_group}/{pool}")
        return self.thin

    def reflink(self, path: Path) -> Verdict:
        self.asked.append(f"reflink {path}")
        return self.reflinks

    def mounted_from(self, mount_dir: Path) -> str | None:
        return self.mounts.get(str(mount_dir))
