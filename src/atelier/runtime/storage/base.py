"""The Storage Protocol every volume driver (reflink, lvm-thin, copy) implements.

A driver owns one pool and the volumes in it: imported base images (`atl-base-…`), read-only
prebuild snapshots (`atl-pre-…`) and writable sandbox clones (`atl-sbx-<id>`). Names come
from `atelier.runtime.host.names`; a driver rebuilds its whole inventory from the pool
alone (sidecar files or LV tags), so reconcile can tell Atelier's volumes from others'.
Drivers never boot VMs or touch the guest filesystem: the guest grows its own filesystem.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from atelier.runtime.host.names import VolumeKind

PoolLevel = Literal["ok", "low", "full"]


@dataclass(frozen=True)
class Volume:
    """One volume in the pool.

    `path` is what a VMM opens: a raw image file, or a block device for lvm-thin. `origin`
    names the volume it was cloned or snapshotted from (None for imported bases). `size` is
    the virtual size in bytes, the size the guest sees.
    """

    name: str
    kind: VolumeKind
    driver: str
    path: Path
    size: int
    created: datetime
    origin: str | None = None
    read_only: bool = False

    def as_json(self) -> dict[str, Any]:
        """JSON-ready fields (paths and times as strings)."""
        data = asdict(self)
        data["path"] = str(self.path)
        data["created"] = self.created.isoformat()
        return data


@dataclass(frozen=True)
class VolumeUsage:
    """Space one volume takes: its virtual size, the bytes allocated to it, and how many of
    those are shared with other volumes (CoW) or exclusive to it. `shared`/`exclusive` are
    None when the driver cannot tell (lvm-thin, tmpfs)."""

    name: str
    size: int
    allocated: int
    shared: int | None = None
    exclusive: int | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@dataclass(frozen=True)
class PoolUsage:
    """Space in the pool as a whole, with the thresholds that apply to it.

    `free` is what unprivileged writers can still allocate. `reserve` is the free space new
    volumes must leave (see StorageConfig.reserve_bytes); `full_below` the free space under
    which the pool counts as full. `shared`/`exclusive` count physical bytes referenced by
    more than one volume / by exactly one (None when unknown).
    """

    driver: str
    pool: str
    fs: str
    total: int
    used: int
    free: int
    reserve: int
    full_below: int
    volumes: int
    shared: int | None = None
    exclusive: int | None = None

    @property
    def level(self) -> PoolLevel:
        """`full` below `full_below`, `low` below the reserve, else `ok`."""
        if self.free < self.full_below or self.free <= 0:
            return "full"
        if self.free < self.reserve:
            return "low"
        return "ok"

    def as_json(self) -> dict[str, Any]:
        """JSON-ready fields, with the level."""
        data = asdict(self)
        data["level"] = self.level
        return data


@dataclass(frozen=True)
class Usage:
    """The pool and every volume in it."""

    pool: PoolUsage
    volumes: tuple[VolumeUsage, ...]

    def as_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"pool": self.pool.as_json(), "volumes": [v.as_json() for v in self.volumes]}


@runtime_checkable
class Storage(Protocol):
    """A volume driver over one pool.

    Every method that creates a volume checks the reserve first and leaves nothing behind
    when it fails. Names must parse with `names.parse_volume`; a wrong kind raises
    InvalidVolumeName.
    """

    name: str  # the driver's config value: "reflink", "lvm-thin" or "copy"

    async def import_base(self, source: Path, name: str) -> Volume:
        """Copy a raw image file into the pool as read-only base `name` (`atl-base-…`).

        Reflinks when `source` is on the pool's filesystem. Raises InvalidVolumeName,
        ValidationError (source missing), VolumeExists, PoolFull, StorageError.
        """
        ...

    async def clone(self, source: str, name: str, *, size: int | None = None) -> Volume:
        """Clone base or prebuild `source` into writable sandbox volume `name` (`atl-sbx-…`),
        grown to `size` bytes when given (never below the source's size).

        Raises InvalidVolumeName, VolumeNotFound, VolumeExists, ShrinkRefused, PoolFull,
        StorageError.
        """
        ...

    async def snapshot(self, source: str, name: str) -> Volume:
        """Freeze sandbox volume `source` into read-only prebuild `name` (`atl-pre-…`).

        The caller stops or pauses (and syncs) the guest first. Raises InvalidVolumeName,
        VolumeNotFound, VolumeExists, PoolFull, StorageError.
        """
        ...

    async def resize(self, name: str, size: int) -> Volume:
        """Grow a sandbox volume to `size` bytes (the guest grows its filesystem at boot).

        A no-op when the size is unchanged. Raises VolumeNotFound, ShrinkRefused,
        VolumeReadOnly, StorageError.
        """
        ...

    async def delete(self, name: str, *, force: bool = False) -> None:
        """Remove a volume. Refuses a volume that is the origin of others unless `force`.

        Raises VolumeNotFound, VolumeHasClones (naming the clones), VolumeInUse,
        StorageError.
        """
        ...

    async def get(self, name: str) -> Volume:
        """One volume by name. Raises VolumeNotFound, InvalidVolumeName."""
        ...

    async def list(self) -> tuple[Volume, ...]:
        """Every Atelier volume in the pool, rebuilt from the pool itself, sorted by name."""
        ...

    async def pool_usage(self) -> PoolUsage:
        """Size, used and free space of the pool and its thresholds (cheap: no per-volume
        walk). Raises PoolUnavailable."""
        ...

    async def usage(self) -> Usage:
        """The pool plus each volume's allocated, shared and exclusive bytes (walks every
        volume; for status pages, not hot paths). Raises PoolUnavailable."""
        ...

    async def check_reserve(self, needed: int = 0, *, purpose: str = "") -> PoolUsage:
        """The pool usage, or PoolFull when `needed` more bytes would leave less free
        space than the reserve. `purpose` ("clone atl-sbx-…") goes into the message."""
        ...


def format_bytes(value: int | float | None) -> str:
    """A byte count for people: 1536 → '1.5 KiB'; None → '-'."""
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")  # pragma: no cover  # the loop returns at TiB
