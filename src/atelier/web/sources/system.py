"""Host facts for the System and Images pages: health, drivers, storage, caches, queue.

Everything is read on request; directory sizes are summed in a worker thread with a cap
on the number of files visited, so a huge cache cannot stall the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.core.auth import Principal
from atelier.core.images import ImageService
from atelier.core.manager import Check, Manager
from atelier.errors import AtelierError

MAX_FILES = 200_000


@dataclass(frozen=True)
class Usage:
    """Bytes used under one directory (`partial` when the walk stopped early)."""

    name: str
    path: str
    bytes: int
    partial: bool = False


@dataclass(frozen=True)
class PoolView:
    """The storage pool."""

    driver: str
    pool: str
    fs: str
    total: int
    used: int
    free: int
    level: str
    volumes: int

    @property
    def percent(self) -> int:
        return round(100 * self.used / self.total) if self.total else 0


@dataclass(frozen=True)
class HostFacts:
    """What the System page shows."""

    version: str
    mode: str
    uptime_s: float
    checks: list[Check]
    drivers: dict[str, tuple[str, str]]  # concern -> (driver, reason)
    pool: PoolView | None
    usage: list[Usage]
    counts: dict[str, int]
    queued: list[tuple[str, int]]  # (sandbox id, position)
    limits: dict[str, int]

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass(frozen=True)
class ImageView:
    """A built image."""

    name: str
    version: str
    size: int
    allocated: int
    created: str
    recipe: str
    kernels: str
    default: bool


@dataclass(frozen=True)
class KernelView:
    """An installed guest kernel."""

    flavour: str
    release: str
    current: bool
    size: int
    built: str


def _du(path: Path) -> tuple[int, bool]:
    total, seen = 0, 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            seen += 1
            if seen > MAX_FILES:
                return total, True
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total, False


class SystemFacts:
    """Reads host facts for admins (members see health only)."""

    def __init__(self, manager: Manager) -> None:
        self.manager = manager

    async def facts(self, principal: Principal) -> HostFacts:
        """Health, drivers, pool, caches and the spawn queue."""
        m = self.manager
        checks = await m.health()
        runtime = m.runtime
        drivers = {k: (c.driver, c.reason) for k, c in runtime.choices.items()} if runtime else {}
        pool = None
        if runtime is not None:
            with contextlib.suppress(AtelierError, OSError):
                u = await runtime.storage.pool_usage()
                pool = PoolView(u.driver, u.pool, u.fs, u.total, u.used, u.free, u.level, u.volumes)
        views = await m.sandboxes.list_visible(principal)
        counts: dict[str, int] = {}
        for view in views:
            counts[view.status] = counts.get(view.status, 0) + 1
        queued = sorted(
            ((v.id, v.queue_position) for v in views if v.queue_position is not None),
            key=lambda item: item[1],
        )
        usage = await self._usage() if principal.is_admin else []
        limits = m.config.limits
        return HostFacts(
            m.version,
            m.mode,
            time.time() - m.started_at,
            checks,
            drivers if principal.is_admin else {},
            pool if principal.is_admin else None,
            usage,
            counts,
            queued,
            {
                "max sandboxes": limits.max_sandboxes,
                "per user": limits.max_sandboxes_per_user,
                "concurrent spawns": limits.max_concurrent_spawns,
            },
        )

    async def _usage(self) -> list[Usage]:
        paths = self.manager.config.paths
        places = [
            ("images", paths.images),
            ("build cache", paths.cache_dir),
            ("data", paths.data_dir),
        ]
        found = []
        for name, path in places:
            if path.exists():
                size, partial = await asyncio.to_thread(_du, path)
                found.append(Usage(name, str(path), size, partial))
        return found

    def images(self) -> tuple[list[ImageView], list[KernelView]]:
        """Built images and installed kernels."""
        service = ImageService(self.manager.config)
        default = self.manager.config.images.default_image
        images, kernels = [], []
        with contextlib.suppress(AtelierError, OSError):
            for row in service.images():
                data: dict[str, Any] = row.as_json()
                manifest = row.image.manifest
                images.append(
                    ImageView(
                        manifest.name,
                        manifest.version,
                        manifest.size_apparent,
                        manifest.size_allocated,
                        str(data.get("created", ""))[:16].replace("T", " "),
                        manifest.recipe_hash[:12],
                        ", ".join(manifest.kernel.get("flavours", [])),
                        manifest.name == default,
                    )
                )
        with contextlib.suppress(AtelierError, OSError):
            for krow in service.kernels():
                k = krow.kernel
                kernels.append(
                    KernelView(k.flavour, k.release, krow.current, k.size, str(k.built_at)[:16])
                )
        return images, kernels
