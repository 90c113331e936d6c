"""Use of a running guest: its agent client, who terminals run as, and its serial console.

Every use through `guest` counts as activity for idle auto-stop. The agent of a sandbox
adopted after a manager restart is registered on first use from the row's VM handle and
encrypted token. Console reads work also after the VM stopped (the kept last boot's log).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from atelier.core.auth import Principal
from atelier.core.guests import AgentPool
from atelier.core.lifecycle import Status
from atelier.core.runtime import Runtime
from atelier.core.sandbox_handles import handle_from_json
from atelier.core.sandbox_records import SandboxRecords
from atelier.core.secrets import SecretBox
from atelier.core.spawn import SpawnPipeline
from atelier.db.models import Sandbox
from atelier.errors import Conflict
from atelier.runtime.agent.client import AgentClient


@dataclass(eq=False)
class GuestAccess:
    """Agent clients and console logs of sandboxes the caller may see."""

    records: SandboxRecords
    agents: AgentPool
    secrets: SecretBox
    runtime: Runtime
    pipeline: SpawnPipeline

    @property
    def terminal_user(self) -> str | None:
        """Who terminals run as: `dev` in real guests; the agent's own user in mock mode."""
        return None if self.runtime.vmm.name == "mock" else "dev"

    async def guest(self, principal: Principal, sandbox_id: str) -> AgentClient:
        """The running sandbox's agent client (409 unless running)."""
        row = await self.records.load(principal, sandbox_id)
        if row.status != Status.RUNNING:
            raise Conflict(
                f"sandbox {sandbox_id} is {row.status}, not running",
                hint=f"start it with `atelier sandbox start {sandbox_id}`"
                if row.status == Status.STOPPED
                else None,
                code="sandbox_not_running",
            )
        if not self.agents.known(sandbox_id):
            self._register_agent(row)
        await self.records.touch(sandbox_id)
        return await self.agents.get(sandbox_id)

    def _register_agent(self, row: Sandbox) -> None:
        assert row.vm is not None and row.agent_token is not None
        handle = handle_from_json(row.vm)
        self.agents.register(row.id, handle.agent, self.secrets.decrypt(row.agent_token))

    async def console_log(
        self, principal: Principal, sandbox_id: str, tail: int = 200
    ) -> list[str]:
        """The last lines of the VM's serial console: the running boot, else the last one."""
        row = await self.records.load(principal, sandbox_id)
        path = (
            handle_from_json(row.vm).console_log
            if row.vm
            else self.pipeline.logs_dir(sandbox_id) / "console.log"
        )
        with contextlib.suppress(OSError):
            return path.read_text(errors="replace").splitlines()[-tail:]
        return []

    async def follow_console(self, principal: Principal, sandbox_id: str) -> AsyncIterator[str]:
        """New console lines as they are written, until the VM stops."""
        row = await self.records.load(principal, sandbox_id)
        if not row.vm:
            return
        path = handle_from_json(row.vm).console_log
        position = path.stat().st_size if path.exists() else 0
        buffer = ""
        while True:
            try:
                with path.open("rb") as fh:
                    fh.seek(position)
                    chunk = fh.read()
            except FileNotFoundError:
                return
            if chunk:
                position += len(chunk)
                buffer += chunk.decode("utf-8", "replace")
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    yield line
            else:
                await asyncio.sleep(0.25)
