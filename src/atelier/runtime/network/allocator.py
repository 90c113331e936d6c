"""Reserving allocations through the repository, retrying on uniqueness conflicts.

The repository is the only store of truth: an allocator reads what others hold, builds a
candidate, and lets the repository's atomic `reserve` decide. A conflict (another
allocator won the race for that address) makes it build a new candidate from a fresh read;
after the first attempt candidates are chosen at random among the free ones so concurrent
allocators stop colliding quickly.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable
from ipaddress import IPv4Network

from atelier.runtime.network.addressing import guest_indices
from atelier.runtime.network.base import Allocation, AllocationRepository
from atelier.runtime.network.errors import (
    AddressPoolExhausted,
    AllocationConflict,
    NetworkError,
)

MAX_ATTEMPTS = 64

Builder = Callable[[list[Allocation], int], Allocation]


async def reserve(repo: AllocationRepository, sandbox_id: str, build: Builder) -> Allocation:
    """Reserve the candidate `build(others, attempt)` returns, retrying on conflicts.

    Raises AddressPoolExhausted (from `build`) or NetworkError after MAX_ATTEMPTS conflicts.
    """
    for attempt in range(MAX_ATTEMPTS):
        others = [a for a in await repo.list_all() if a.sandbox_id != sandbox_id]
        candidate = build(others, attempt)
        try:
            await repo.reserve(candidate)
        except AllocationConflict:
            continue
        return candidate
    raise NetworkError(
        f"could not reserve a network allocation for sandbox {sandbox_id}:"
        f" {MAX_ATTEMPTS} attempts conflicted",
        hint="too many sandboxes start at once for the address pool; retry the spawn",
    )


def pick_index(
    subnet: IPv4Network,
    taken: Collection[int],
    *,
    preferred: int | None,
    attempt: int,
    rng: random.Random,
) -> int:
    """A free guest host index: the preferred one if free, then the lowest, then random."""
    pool = guest_indices(subnet)
    if preferred is not None and preferred in pool and preferred not in taken:
        return preferred
    free = [i for i in pool if i not in taken]
    if not free:
        raise AddressPoolExhausted(
            f"all {len(pool)} guest addresses of network.subnet {subnet} are allocated",
            hint="stop or delete sandboxes, or configure a larger network.subnet",
            field="network.subnet",
        )
    return free[0] if attempt == 0 else rng.choice(free)


def pick_ports(
    first: int,
    last: int,
    count: int,
    taken: Collection[int],
    *,
    attempt: int,
    rng: random.Random,
    usable: Callable[[int], bool] = lambda _port: True,
) -> list[int]:
    """`count` free ports of `first..last`: lowest first, random after a conflict."""
    candidates: Iterable[int] = range(first, last + 1)
    if attempt > 0:
        ordered = list(candidates)
        rng.shuffle(ordered)
        candidates = ordered
    chosen = []
    for port in candidates:
        if port not in taken and usable(port):
            chosen.append(port)
            if len(chosen) == count:
                return sorted(chosen)
    raise AddressPoolExhausted(
        f"only {len(chosen)} of the {count} loopback ports needed are free in"
        f" network.user_ports_from..user_ports_to ({first}-{last})",
        hint="widen the port range or stop sandboxes",
        field="network.user_ports_from",
    )
