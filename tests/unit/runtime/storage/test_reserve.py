"""Reserve arithmetic, pool levels and the refusal message."""

from __future__ import annotations

import pytest

from atelier.runtime.storage import PoolFull, PoolUsage
from atelier.runtime.storage.base import format_bytes
from atelier.runtime.storage.config import GIB, MIB, StorageConfig
from atelier.runtime.storage.reserve import ensure_reserve


def usage(free: int, total: int = 100 * GIB, reserve: int = 5 * GIB) -> PoolUsage:
    return PoolUsage("reflink", "/pool", "btrfs", total, total - free, free, reserve, 128 * MIB, 2)


@pytest.mark.parametrize(
    ("percent", "gb", "total", "expected"),
    [
        (5.0, 1.0, 100 * GIB, 5 * GIB),  # the percentage wins on a big pool
        (5.0, 1.0, 10 * GIB, GIB),  # the floor wins on a small one
        (0.0, 0.0, 10 * GIB, 0),
        (10.0, 0.0, 128 * MIB, int(12.8 * MIB)),
    ],
)
def test_reserve_is_the_larger_of_percent_and_gb(
    percent: float, gb: float, total: int, expected: int
) -> None:
    config = StorageConfig(reserve_percent=percent, reserve_gb=gb)
    assert config.reserve_bytes(total) == expected


def test_levels() -> None:
    assert usage(free=50 * GIB).level == "ok"
    assert usage(free=4 * GIB).level == "low"
    assert usage(free=100 * MIB).level == "full"
    assert usage(free=0, reserve=0).level == "full"


def test_ensure_reserve_passes_with_room() -> None:
    pool = usage(free=50 * GIB)
    assert ensure_reserve(pool, StorageConfig(), needed=GIB) is pool


def test_refusal_names_pool_free_reserve_and_keys() -> None:
    config = StorageConfig(reserve_percent=5, reserve_gb=1)
    with pytest.raises(PoolFull) as info:
        ensure_reserve(usage(free=4 * GIB), config, purpose="clone a into b")
    message = info.value.message
    assert message.startswith("refusing to clone a into b: storage pool /pool (reflink on btrfs)")
    assert "4.0 GiB free of 100.0 GiB" in message
    assert "below its reserve of 5.0 GiB" in message
    assert "storage.reserve_percent=5%" in message and "storage.reserve_gb=1" in message
    assert info.value.hint and "atelier storage list" in info.value.hint
    assert info.value.status == 429


def test_needed_bytes_count_against_the_reserve() -> None:
    with pytest.raises(PoolFull) as info:
        ensure_reserve(usage(free=6 * GIB), StorageConfig(), needed=2 * GIB)
    assert "this needs 2.0 GiB, which would leave less than its reserve of 5.0 GiB" in (
        info.value.message
    )


def test_format_bytes() -> None:
    assert format_bytes(None) == "-"
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * GIB) == "3.0 GiB"
