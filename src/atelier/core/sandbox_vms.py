"""The VMs behind live sandboxes: per-sandbox locks, tearing a VM down, noticing its death.

Each sandbox that has been acted on has a `Live` companion in memory: the lock every
lifecycle operation holds, its VM handle, and the task that waits for the VM process to
exit. An exit nobody asked for (`expected_exit` unset, manager not closing) turns the
sandbox into `error` with the tail of its console. Volumes are not this module's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from atelier.core.guests import AgentPool
from atelier.core.lifecycle import Status
from atelier.core.runtime import Runtime
from atelier.core.sandbox_handles import handle_from_json
from atelier.core.sandbox_records import SandboxRecords
from atelier.core.spawn import SpawnPipeline, keep_console
from atelier.db.models import Sandbox
from atelier.errors import AtelierError
from atelier.runtime.host import proc
from atelier.runtime.vmm.base import VmHandle

log = logging.getLogger(__name__)


@dataclass
class Live:
    """In-memory companions of a live sandbox."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    handle: VmHandle | None = None
    expected_exit: bool = False
    watcher: asyncio.Task[None] | None = None


@dataclass(eq=False)
class SandboxVms:
    """Live companions, VM teardown and death watchers of all sandboxes."""

    records: SandboxRecords
    runtime: Runtime
    pipeline: SpawnPipeline
    agents: AgentPool
    closing: bool = field(default=False, init=False)
    _live: dict[str, Live] = field(default_factory=dict, init=False)

    def live(self, sandbox_id: str) -> Live:
        """The sandbox's companion, made on first use."""
        return self._live.setdefault(sandbox_id, Live())

    def drop(self, sandbox_id: str) -> None:
        """Forget a destroyed sandbox's companion."""
        self._live.pop(sandbox_id, None)

    async def shutdown(self, row: Sandbox, *, graceful: bool) -> None:
        """Stop the VM and release everything but the volume."""
        live = self.live(row.id)
        live.expected_exit = True
        handle = handle_from_json(row.vm) if row.vm else None
        for extension in reversed(self.pipeline.extensions):
            try:
                await extension.on_stopped(row.id)
            except Exception:
                log.exception("extension %s failed on stop of %s", extension.name, row.id)
        if handle is not None:
            keep_console(handle, self.pipeline.logs_dir(row.id))
            if graceful and self.agents.known(row.id):
                with contextlib.suppress(AtelierError, OSError):
                    client = await self.agents.get(row.id)
                    await asyncio.wait_for(client.poweroff(), 10)
            await self.agents.forget(row.id)
            await self.runtime.vmm.stop(handle, timeout=30 if graceful else 0.5)
        else:
            await self.agents.forget(row.id)
        if live.watcher is not None:
            live.watcher.cancel()
            live.watcher = None
        if self.runtime.network is not None:
            await self.runtime.network.release(row.id)
        live.expected_exit = False

    def watch(self, sandbox_id: str, handle: VmHandle) -> None:
        """Wait for the VM process to exit in the background (replacing an older watcher)."""
        live = self.live(sandbox_id)
        live.handle = handle
        if live.watcher is not None:
            live.watcher.cancel()
        live.watcher = asyncio.create_task(
            self._await_death(sandbox_id, handle), name=f"watch-{sandbox_id}"
        )

    def cancel_watchers(self) -> None:
        """Stop every watcher; the VMs keep running."""
        for live in self._live.values():
            if live.watcher is not None:
                live.watcher.cancel()

    async def _await_death(self, sandbox_id: str, handle: VmHandle) -> None:
        while not await proc.wait_for_exit(handle.pid, 3600):
            pass
        live = self._live.get(sandbox_id)
        if live is None or live.expected_exit or self.closing:
            return
        async with live.lock:
            row = await self.records.lookup(sandbox_id)
            if row is None or row.status not in (Status.RUNNING, Status.PAUSED):
                return
            log.warning("sandbox %s: VM process %d exited unexpectedly", sandbox_id, handle.pid)
            live.watcher = None
            tail = _console_tail(handle)
            live.expected_exit = True
            try:
                await self.shutdown(row, graceful=False)
            finally:
                live.expected_exit = False
            await self.records.set_status(
                sandbox_id,
                Status.ERROR,
                error=(
                    "vm",
                    "the VM process exited unexpectedly" + (f"; console: {tail}" if tail else ""),
                ),
            )


def _console_tail(handle: VmHandle, lines: int = 3) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(
            handle.console_log.read_text(errors="replace").strip().splitlines()[-lines:]
        )
    return ""
