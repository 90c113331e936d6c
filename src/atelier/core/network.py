"""The network service behind `atelier network setup|status|teardown` (and `atelier init`).

It picks the driver (with its reason) and runs the host-side operations. Allocations live
in the repository it is given: the manager passes its database repository; the CLI, which
has no manager, passes none and so lists no allocations (TAPs found on the host are still
shown). Sandboxes are attached and released by the spawn pipeline, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from atelier.config import AtelierConfig
from atelier.runtime.network.base import (
    Allocation,
    AllocationRepository,
    Network,
    NetworkStatus,
    PortStatus,
)
from atelier.runtime.network.memory import MemoryAllocationRepository
from atelier.runtime.network.select import HostFacts, select_network

__all__ = [
    "Allocation",
    "NetworkOverview",
    "NetworkReport",
    "NetworkService",
    "NetworkStatus",
    "PortStatus",
]


@dataclass(frozen=True)
class NetworkReport:
    """What setup or teardown did, with the driver and why it was chosen."""

    driver: str | None
    reason: str
    changes: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "driver": self.driver,
            "reason": self.reason,
            "changed": bool(self.changes),
            "changes": list(self.changes),
        }


@dataclass(frozen=True)
class NetworkOverview:
    """The driver, why, and its status (None when networking is disabled)."""

    driver: str | None
    reason: str
    status: NetworkStatus | None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data: dict[str, Any] = {"driver": self.driver, "reason": self.reason}
        if self.status is not None:
            data.update(self.status.to_dict())
        return data


class NetworkService:
    """Host-side network operations for one configuration."""

    def __init__(
        self,
        config: AtelierConfig,
        repo: AllocationRepository | None = None,
        *,
        extra_host_ports: Sequence[int] = (),
        netns: str | None = None,
        facts: HostFacts | None = None,
    ) -> None:
        self.driver: Network | None
        self.driver, self.reason = select_network(
            config.network,
            repo if repo is not None else MemoryAllocationRepository(),
            run_dir=config.paths.run_dir,
            allowed_host_ports=extra_host_ports,
            netns=netns,
            facts=facts,
        )

    @property
    def name(self) -> str | None:
        """The chosen driver's name, or None when networking is disabled."""
        return self.driver.name if self.driver is not None else None

    async def setup(self) -> NetworkReport:
        """Create or repair the host side; idempotent."""
        if self.driver is None:
            return NetworkReport(None, self.reason, ())
        report = await self.driver.setup()
        return NetworkReport(self.name, self.reason, report.changes)

    async def teardown(self, *, force: bool = False) -> NetworkReport:
        """Remove what setup created (NetworkInUse while TAPs are attached, unless forced)."""
        if self.driver is None:
            return NetworkReport(None, self.reason, ())
        report = await self.driver.teardown(force=force)
        return NetworkReport(self.name, self.reason, report.changes)

    async def status(self) -> NetworkOverview:
        """The bridge, rules, resolver, TAPs and allocations."""
        if self.driver is None:
            return NetworkOverview(None, self.reason, None)
        return NetworkOverview(self.name, self.reason, await self.driver.status())
