"""The LVM commands of the lvm-thin driver, as pure functions, and how to read lvs output.

Nothing here runs a command: each `*_argv` returns the argument list the driver passes to
its runner, so every command can be checked without device-mapper.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, Protocol

from atelier.runtime.host import proc
from atelier.runtime.host.names import parse_volume
from atelier.runtime.storage.base import PoolUsage
from atelier.runtime.storage.config import MIB, StorageConfig
from atelier.runtime.storage.errors import StorageError

TAG = "atelier"
ORIGIN_TAG = "atl.origin."
CREATED_TAG = "atl.created."
LV_FIELDS = "lv_name,lv_size,lv_attr,lv_tags,origin,pool_lv,data_percent,lv_path"
POOL_FIELDS = "lv_size,data_percent,metadata_percent,lv_attr"
METADATA_FULL_PERCENT = 95.0  # a thin pool this full of metadata cannot map new blocks
LVM_TIMEOUT = 120.0


class Runner(Protocol):
    """How the driver runs a command (proc.run, or a fake LVM in tests)."""

    def __call__(
        self, argv: Sequence[str], *, timeout: float, check: bool = True
    ) -> Awaitable[proc.Completed]:
        """Run argv to completion; raise CommandError on failure when `check`."""
        ...


def tag_args(origin: str | None, created: datetime) -> list[str]:
    """`--addtag` options marking an LV as Atelier's, with its origin and creation time."""
    values = [TAG, f"{CREATED_TAG}{int(created.timestamp())}"]
    if origin:
        values.append(f"{ORIGIN_TAG}{origin}")
    return [arg for value in values for arg in ("--addtag", value)]


def create_thin_argv(vg: str, pool: str, name: str, size: int, tags: Sequence[str]) -> list[str]:
    """lvcreate of a new thin LV of `size` bytes in thin pool vg/pool."""
    return [
        "lvcreate", "--yes", "--type", "thin", "--thinpool", pool,
        "--virtualsize", f"{size}b", "--name", name, *tags, vg,
    ]  # fmt: skip


def snapshot_argv(vg: str, origin: str, name: str, tags: Sequence[str]) -> list[str]:
    """lvcreate of a thin snapshot of vg/origin that activates like any LV (-kn)."""
    return [
        "lvcreate", "--yes", "--snapshot", "--setactivationskip", "n", "--activate", "y",
        "--name", name, *tags, f"{vg}/{origin}",
    ]  # fmt: skip


def permission_argv(vg: str, name: str, *, read_only: bool) -> list[str]:
    """lvchange making vg/name read-only or read-write."""
    return ["lvchange", "--permission", "r" if read_only else "rw", f"{vg}/{name}"]


def extend_argv(vg: str, name: str, size: int) -> list[str]:
    """lvextend growing vg/name to `size` bytes."""
    return ["lvextend", "--size", f"{size}b", f"{vg}/{name}"]


def remove_argv(vg: str, name: str) -> list[str]:
    """lvremove of vg/name without a prompt."""
    return ["lvremove", "--yes", f"{vg}/{name}"]


def list_argv(vg: str) -> list[str]:
    """lvs of every LV in the VG, as JSON with sizes in bytes."""
    return [
        "lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
        "-o", LV_FIELDS, vg,
    ]  # fmt: skip


def pool_argv(vg: str, pool: str) -> list[str]:
    """lvs of the thin pool's size and fill levels, as JSON with sizes in bytes."""
    return [
        "lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
        "-o", POOL_FIELDS, f"{vg}/{pool}",
    ]  # fmt: skip


def parse_lvs(text: str) -> list[dict[str, str]]:
    """The rows of `lvs --reportformat json` output."""
    try:
        data: Any = json.loads(text)
        rows = data["report"][0]["lv"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise StorageError(f"cannot parse lvs output: {text[:200]!r}") from exc
    return [{str(k): str(v) for k, v in row.items()} for row in rows]


def percent(value: str) -> float:
    """An lvs percentage field as a number (blank: 0)."""
    try:
        return float(value) if value.strip() else 0.0
    except ValueError:
        return 0.0


def thin_pool_usage(
    config: StorageConfig, pool: str, row: dict[str, str], volumes: int
) -> PoolUsage:
    """PoolUsage from the thin pool's lvs row: free is the unmapped part of its data LV
    (none at all once its metadata is METADATA_FULL_PERCENT full)."""
    total = int(row["lv_size"])
    used = int(total * percent(row.get("data_percent", "")) / 100)
    free = total - used
    if percent(row.get("metadata_percent", "")) >= METADATA_FULL_PERCENT:
        free = 0
    return PoolUsage(
        driver="lvm-thin",
        pool=pool,
        fs="thin-pool",
        total=total,
        used=used,
        free=free,
        reserve=config.reserve_bytes(total),
        full_below=config.full_free_mb * MIB,
        volumes=volumes,
    )


def tags(row: dict[str, str]) -> list[str]:
    """The LV tags of an lvs row."""
    return [t for t in row.get("lv_tags", "").split(",") if t]


def is_ours(row: dict[str, str]) -> bool:
    """True for LVs Atelier made: tagged `atelier` and named like a volume."""
    return TAG in tags(row) and parse_volume(row.get("lv_name", "")) is not None


def origin_of(row: dict[str, str]) -> str | None:
    """The volume an LV was cloned from: its origin tag, else LVM's own origin field."""
    for tag in tags(row):
        if tag.startswith(ORIGIN_TAG):
            return tag[len(ORIGIN_TAG) :]
    return row.get("origin") or None
