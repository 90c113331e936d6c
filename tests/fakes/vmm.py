"""An in-memory VMM driver for lifecycle and rollback tests: no processes are started.

`FakeVmm` records calls in order (`calls`), keeps "running" VMs in a dict, and can be told
to fail the next call of a method (`fail["boot"] = VmmError(...)`). Handles point at a Unix
socket path nobody serves, so a spawn using it fails at the agent step unless a test
serves that socket.
"""

from __future__ import annotations

import os
from pathlib import Path

from atelier.errors import AtelierError
from atelier.runtime.agent.endpoint import AgentEndpoint
from atelier.runtime.vmm.base import BootSpec, VmHandle, VmState


class FakeVmm:
    """A Vmm that only pretends."""

    name = "fake"

    def __init__(self, run_root: Path) -> None:
        self.run_root = run_root / "vm"
        self.running: dict[str, VmHandle] = {}
        self.paused: set[str] = set()
        self.specs: dict[str, BootSpec] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[str, AtelierError] = {}

    def _enter(self, method: str, name: str) -> None:
        self.calls.append((method, name))
        error = self.fail.pop(method, None)
        if error is not None:
            raise error

    def run_dir(self, name: str) -> Path:
        return self.run_root / name

    async def boot(self, spec: BootSpec) -> VmHandle:
        self._enter("boot", spec.name)
        run_dir = self.run_dir(spec.name)
        run_dir.mkdir(parents=True, exist_ok=True)
        handle = VmHandle(
            name=spec.name,
            driver=self.name,
            pid=os.getpid(),
            run_dir=run_dir,
            agent=AgentEndpoint(kind="unix", path=run_dir / "agent.sock"),
            console_log=run_dir / "console.log",
        )
        self.running[spec.name] = handle
        self.specs[spec.name] = spec
        return handle

    async def stop(self, handle: VmHandle, timeout: float = 10.0) -> None:
        self._enter("stop", handle.name)
        await self.kill(handle)

    async def kill(self, handle: VmHandle) -> None:
        self.calls.append(("kill", handle.name))
        self.running.pop(handle.name, None)
        self.paused.discard(handle.name)

    async def status(self, handle: VmHandle) -> VmState:
        if handle.name not in self.running:
            return VmState.STOPPED
        return VmState.PAUSED if handle.name in self.paused else VmState.RUNNING

    async def pause(self, handle: VmHandle) -> None:
        self._enter("pause", handle.name)
        self.paused.add(handle.name)

    async def resume(self, handle: VmHandle) -> None:
        self._enter("resume", handle.name)
        self.paused.discard(handle.name)

    async def snapshot(self, handle: VmHandle, state_file: Path) -> None:
        self._enter("snapshot", handle.name)
        state_file.write_bytes(b"fake snapshot")

    async def adopt(self, name: str) -> VmHandle | None:
        return self.running.get(name)
