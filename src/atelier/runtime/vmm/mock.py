"""The mock VMM for mock mode (`server.mode = "mock"`): no VM, a real agent on the host.

Each "VM" is the real guest agent started as a host process for user `nobody` in its run
directory, without system rights (it cannot change the clock, the network or power). The
API, terminal and dashboard then behave as with a real sandbox, which is what UI
development needs, but commands run on the host as `nobody`. Never used to test a real
feature; `/health` and the log announce mock mode.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from atelier.runtime.agent.endpoint import AgentEndpoint
from atelier.runtime.host import proc
from atelier.runtime.vmm.base import BootSpec, VmHandle, VmState
from atelier.runtime.vmm.config import VmmConfig
from atelier.runtime.vmm.errors import VmmError, VmNotRunning

NOBODY = 65534
MOCK_ROOT = Path(tempfile.gettempdir())
_GUEST_SRC = Path(__file__).resolve().parents[3]  # the directory holding the atelier package
_LAUNCHER = (
    f"import sys; sys.path.insert(0, {str(_GUEST_SRC)!r});"
    " from atelier.guest.agent import main; main()"
)


class MockVmm:
    """A Vmm whose guests are unprivileged agent processes on the host."""

    name = "mock"

    def __init__(self, config: VmmConfig, run_root: Path) -> None:
        self._config = config
        self._run_root = run_root / "vm"

    def run_dir(self, name: str) -> Path:
        """`<run_dir>/vm/<name>`."""
        return self._run_root / name

    async def boot(self, spec: BootSpec) -> VmHandle:
        """Start the agent for `nobody`, serving a Unix socket in its own directory."""
        run_dir = self.run_dir(spec.name)
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        # The guest's files live where `nobody` can reach them; the run directory (under
        # the manager's private data) only points at them.
        guest_dir = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=MOCK_ROOT))
        home = guest_dir / "home"
        home.mkdir()
        token = next(
            (p.split("=", 1)[1] for p in spec.cmdline if p.startswith("atelier.token=")), ""
        )
        token_file = guest_dir / "token"
        token_file.write_text(token)
        privileged = os.geteuid() == 0
        if privileged:
            for path in (guest_dir, home, token_file):
                os.chown(path, NOBODY, NOBODY)
        socket_path = guest_dir / "agent.sock"
        log = run_dir / "console.log"
        # The system Python, as in a guest: the manager's own interpreter may live where
        # `nobody` cannot read (a pyenv under /root).
        argv = [
            proc.require("python3"), "-I", "-S", "-c", _LAUNCHER,
            "--serve-unix", str(socket_path),
            "--token-file", str(token_file),
            "--log-dir", str(guest_dir / "logs"),
            "--runtime-services-dir", str(guest_dir / "services"),
        ]  # fmt: skip
        if privileged:
            argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
        with log.open("ab") as out:
            process = await proc.spawn(
                argv, stdout=out, stderr=out, cwd=home, env={"HOME": str(home)}
            )
        handle = self._handle(spec.name, process.pid, guest_dir)
        (run_dir / "vm.json").write_text(
            json.dumps({"pid": process.pid, "name": spec.name, "guest_dir": str(guest_dir)})
        )
        if not await _socket_appears(socket_path, process.pid):
            await self.kill(handle)
            raise VmmError(f"mock guest {spec.name} did not start (agent exited early)")
        return handle

    def _handle(self, name: str, pid: int, guest_dir: Path) -> VmHandle:
        run_dir = self.run_dir(name)
        return VmHandle(
            name=name,
            driver=self.name,
            pid=pid,
            run_dir=run_dir,
            agent=AgentEndpoint(kind="unix", path=guest_dir / "agent.sock"),
            console_log=run_dir / "console.log",
            started_at=time.time(),
            extra={"mock": "agent process on the host", "guest_dir": str(guest_dir)},
        )

    async def stop(self, handle: VmHandle, timeout: float = 10.0) -> None:
        """SIGTERM the agent (it ends what it started), then SIGKILL."""
        if self._is_ours(handle):
            with contextlib.suppress(ProcessLookupError):
                os.kill(handle.pid, signal.SIGTERM)
            await proc.wait_for_exit(handle.pid, timeout)
        await self.kill(handle)

    async def kill(self, handle: VmHandle) -> None:
        """SIGKILL the agent's process group and remove the run directory."""
        if self._is_ours(handle):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(handle.pid, signal.SIGKILL)
            await proc.wait_for_exit(handle.pid, 5)
        shutil.rmtree(handle.run_dir, ignore_errors=True)
        guest_dir = handle.extra.get("guest_dir")
        if guest_dir and Path(guest_dir).parent == MOCK_ROOT:
            shutil.rmtree(guest_dir, ignore_errors=True)

    async def status(self, handle: VmHandle) -> VmState:
        if not self._is_ours(handle):
            return VmState.STOPPED
        state = Path(f"/proc/{handle.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return VmState.PAUSED if state == "T" else VmState.RUNNING

    async def pause(self, handle: VmHandle) -> None:
        self._require(handle)
        os.killpg(handle.pid, signal.SIGSTOP)

    async def resume(self, handle: VmHandle) -> None:
        self._require(handle)
        os.killpg(handle.pid, signal.SIGCONT)

    async def snapshot(self, handle: VmHandle, state_file: Path) -> None:
        self._require(handle)
        state_file.write_text(json.dumps({"mock": True, "name": handle.name}))

    async def adopt(self, name: str) -> VmHandle | None:
        try:
            state = json.loads((self.run_dir(name) / "vm.json").read_text())
            handle = self._handle(name, int(state["pid"]), Path(state["guest_dir"]))
        except (OSError, ValueError, KeyError):
            return None
        return handle if self._is_ours(handle) else None

    def _is_ours(self, handle: VmHandle) -> bool:
        argv = proc.process_cmdline(handle.pid)
        guest_dir = handle.extra.get("guest_dir", "")
        return proc.pid_alive(handle.pid) and bool(guest_dir) and guest_dir in " ".join(argv)

    def _require(self, handle: VmHandle) -> None:
        if not self._is_ours(handle):
            raise VmNotRunning(f"mock VM {handle.name} is not running")


async def _socket_appears(path: Path | None, pid: int) -> bool:
    import asyncio

    for _ in range(200):
        if path is not None and path.exists():
            return True
        if not proc.pid_alive(pid):
            return False
        await asyncio.sleep(0.05)
    return False
