"""Idle auto-stop: running sandboxes nobody used for `limits.idle_stop_minutes` are stopped.

Activity is any use through the manager (exec, files, terminal, SSH, proxied requests
record it); a sandbox nobody touched since it started counts from then. The stop runs as the owner through the ordinary stop action.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from atelier.config import AtelierConfig
from atelier.core.auth import Principal
from atelier.core.sandbox_actions import SandboxActions
from atelier.core.sandbox_records import SandboxRecords
from atelier.db.types import utcnow
from atelier.errors import AtelierError

log = logging.getLogger(__name__)


@dataclass(eq=False)
class IdleStop:
    """Finds and stops idle sandboxes."""

    config: AtelierConfig
    records: SandboxRecords
    actions: SandboxActions

    async def stop_idle(self) -> list[str]:
        """Stop running sandboxes idle longer than `limits.idle_stop_minutes`; their ids."""
        minutes = self.config.limits.idle_stop_minutes
        if minutes is None:
            return []
        cutoff = utcnow() - timedelta(minutes=minutes)
        stopped = []
        for row in await self.records.running_rows():
            last = row.last_activity_at or row.started_at or row.created_at
            if last >= cutoff:
                continue
            log.info("sandbox %s idle since %s: stopping it", row.id, last.isoformat())
            system = Principal(row.owner_id, "idle-stop", "admin")
            try:
                await self.actions.stop(system, row.id)
                stopped.append(row.id)
            except AtelierError as exc:
                log.warning("idle stop of %s failed: %s", row.id, exc.message)
        return stopped

    async def watch(self, interval: float = 60.0) -> None:
        """Run `stop_idle` forever (a manager background task)."""
        while True:
            await asyncio.sleep(interval)
            await self.stop_idle()
