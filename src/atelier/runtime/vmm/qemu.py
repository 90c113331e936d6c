"""The QEMU VMM driver: direct kernel boot, virtio devices, QMP control.

QEMU daemonizes itself once its sockets exist, so the VM runs in its own session, is not a
child of the manager and outlives it. The run directory (`<run_dir>/vm/<name>/`) holds the
QMP and agent sockets, the pid file, the console log and `vm.json`, from which `adopt`
rebuilds a handle after a manager restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from qemu.qmp import QMPClient, QMPError

from atelier.runtime.agent.endpoint import AgentEndpoint
from atelier.runtime.host import detect, proc
from atelier.runtime.host.proc import wait_for_exit
from atelier.runtime.vmm.base import BootSpec, VmHandle, VmState
from atelier.runtime.vmm.config import VmmConfig
from atelier.runtime.vmm.errors import VmmError, VmNotRunning
from atelier.runtime.vmm.qemu_argv import Accel, Machine, QemuOptions, RunFiles, build_argv

log = logging.getLogger(__name__)

_PAUSED_STATES = {
    "paused",
    "io-error",
    "suspended",
    "postmigrate",
    "finish-migrate",
    "prelaunch",
    "inmigrate",
}


def choose_accel(config: VmmConfig) -> tuple[Accel, str]:
    """KVM only when standard guests can run (hardware vmx/svm), else TCG; with the reason."""
    verdict = detect.usable_kvm()
    if config.qemu_accel == "kvm":
        return "kvm", "forced by vmm.qemu_accel=kvm"
    if config.qemu_accel == "tcg":
        return "tcg", "forced by vmm.qemu_accel=tcg"
    if verdict.ok:
        return "kvm", verdict.reason
    return "tcg", f"software emulation: {verdict.reason}"


def choose_machine(config: VmmConfig) -> tuple[Machine, str]:
    """q35 unless configured: it never hung in our TCG measurements; microvm hung in ~7 %."""
    if config.qemu_machine == "microvm":
        return "microvm", "forced by vmm.qemu_machine=microvm (tsc_early_khz is passed under TCG)"
    if config.qemu_machine == "q35":
        return "q35", "forced by vmm.qemu_machine=q35"
    return "q35", "q35: robust under TCG (0 hangs in our boots); microvm needs tsc_early_khz"


class QemuVmm:
    """The `Vmm` implementation backed by qemu-system-x86_64."""

    name = "qemu"

    def __init__(self, config: VmmConfig, run_root: Path, *, netns: str | None = None) -> None:
        self._config = config
        self._netns = netns
        self._run_root = run_root / "vm"
        self._locks: dict[str, asyncio.Lock] = {}
        accel, self.accel_reason = choose_accel(config)
        machine, self.machine_reason = choose_machine(config)
        self.options = QemuOptions(
            binary=config.qemu_binary,
            machine=machine,
            accel=accel,
            tb_size_mb=config.qemu_tb_size_mb,
            tsc_khz=detect.tsc_khz() if machine == "microvm" else None,
        )

    def run_dir(self, name: str) -> Path:
        """`<run_dir>/vm/<name>`."""
        return self._run_root / name

    async def boot(self, spec: BootSpec) -> VmHandle:
        """Start QEMU; returns once it has daemonized with its sockets in place."""
        files = RunFiles(self.run_dir(spec.name))
        if files.run_dir.exists():
            existing = await self.adopt(spec.name)
            if existing is not None:
                raise VmmError(
                    f"VM {spec.name} is already running (pid {existing.pid})",
                    hint="stop it first, or pick another name",
                )
            shutil.rmtree(files.run_dir)
        files.run_dir.mkdir(parents=True, mode=0o700)
        state_fd: int | None = None
        try:
            if spec.restore_from is not None:
                state_fd = os.open(spec.restore_from, os.O_RDONLY | os.O_CLOEXEC)
                os.set_inheritable(state_fd, True)
            argv = build_argv(spec, self.options, files, incoming_fd=state_fd, netns=self._netns)
            started = time.time()
            process = await proc.spawn(
                argv,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=[state_fd] if state_fd is not None else [],
            )
            try:
                stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
            except TimeoutError:
                process.kill()
                raise VmmError(f"QEMU did not finish starting {spec.name} within 60 s") from None
            if process.returncode != 0:
                message = (stderr or stdout).decode("utf-8", "replace").strip()
                if not message and files.qemu_log.exists():
                    # After daemonizing, QEMU reports to its -D log instead of stderr.
                    message = files.qemu_log.read_text(errors="replace").strip()[-2000:]
                raise VmmError(
                    f"QEMU failed to start {spec.name}: {message or f'exit {process.returncode}'}",
                    hint=f"full argv in the debug log; console: {files.console}",
                )
            pid = int(files.pidfile.read_text().strip())
            handle = VmHandle(
                name=spec.name,
                driver=self.name,
                pid=pid,
                run_dir=files.run_dir,
                agent=AgentEndpoint(kind="unix", path=files.agent),
                console_log=files.console,
                argv=tuple(argv),
                started_at=started,
                extra={"machine": self.options.machine, "accel": self.options.accel},
            )
            files.state.write_text(json.dumps(_handle_to_json(handle), indent=2))
            return handle
        except BaseException:
            await self._destroy_run_dir(files)
            raise
        finally:
            if state_fd is not None:
                os.close(state_fd)

    async def stop(self, handle: VmHandle, timeout: float = 10.0) -> None:
        """Ctrl-Alt-Del to the guest init (orderly poweroff), then kill after `timeout`."""
        if proc.pid_alive(handle.pid):
            with contextlib.suppress(VmmError, OSError, QMPError):
                await self.qmp(
                    handle,
                    "send-key",
                    {"keys": [{"type": "qcode", "data": k} for k in ("ctrl", "alt", "delete")]},
                )
            if not await wait_for_exit(handle.pid, timeout):
                log.warning(
                    "VM %s did not power off within %.0f s; killing it", handle.name, timeout
                )
        await self.kill(handle)

    async def kill(self, handle: VmHandle) -> None:
        """SIGKILL the QEMU process (if it is ours and alive) and remove the run directory."""
        if self._is_ours(handle):
            with contextlib.suppress(ProcessLookupError):
                os.kill(handle.pid, signal.SIGKILL)
            await wait_for_exit(handle.pid, 10)
        await self._destroy_run_dir(RunFiles(handle.run_dir))

    async def status(self, handle: VmHandle) -> VmState:
        """RUNNING, PAUSED (including a pool-full io-error pause) or STOPPED."""
        state = await self.run_state(handle)
        if state is None:
            return VmState.STOPPED
        return VmState.PAUSED if state in _PAUSED_STATES else VmState.RUNNING

    async def run_state(self, handle: VmHandle) -> str | None:
        """QEMU's own run state (`running`, `paused`, `io-error`, ...) or None when gone."""
        if not self._is_ours(handle):
            return None
        try:
            reply = await self.qmp(handle, "query-status")
        except (VmmError, OSError, QMPError):
            return None if not proc.pid_alive(handle.pid) else "unknown"
        return str(reply["status"])

    async def pause(self, handle: VmHandle) -> None:
        """Freeze the vCPUs (QMP stop)."""
        await self._require_running(handle)
        await self.qmp(handle, "stop")

    async def resume(self, handle: VmHandle) -> None:
        """Unfreeze the vCPUs (QMP cont)."""
        await self._require_running(handle)
        await self.qmp(handle, "cont")

    async def snapshot(self, handle: VmHandle, state_file: Path) -> None:
        """Save device and memory state of a paused VM to `state_file` (migration stream).

        The file descriptor is handed to QEMU over the QMP socket, so no shell is involved.
        """
        await self._require_running(handle)
        tmp = state_file.with_suffix(state_file.suffix + ".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            async with self._session(handle) as client:
                client.send_fd_scm(fd)
                await client.execute("getfd", {"fdname": "snapshot"})
                await client.execute("migrate", {"uri": "fd:snapshot"})
                while True:
                    info = await client.execute("query-migrate")
                    assert isinstance(info, dict)
                    status = info.get("status")
                    if status == "completed":
                        break
                    if status in ("failed", "cancelled"):
                        raise VmmError(
                            f"snapshot of {handle.name} failed: {info.get('error-desc', status)}"
                        )
                    await asyncio.sleep(0.02)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        tmp.rename(state_file)

    async def adopt(self, name: str) -> VmHandle | None:
        """Rebuild the handle of a VM started earlier, if its process still runs."""
        files = RunFiles(self.run_dir(name))
        try:
            handle = handle_from_json(json.loads(files.state.read_text()))
        except (FileNotFoundError, ValueError, KeyError):
            return None
        return handle if self._is_ours(handle) else None

    def list_run_dirs(self) -> list[str]:
        """Names of all VM run directories present (live or stale)."""
        if not self._run_root.exists():
            return []
        return sorted(p.name for p in self._run_root.iterdir() if p.is_dir())

    async def qmp(
        self, handle: VmHandle, command: str, arguments: dict[str, Any] | None = None
    ) -> Any:
        """Run one QMP command and return its result."""
        async with self._session(handle) as client:
            return await client.execute(command, arguments)

    @contextlib.asynccontextmanager
    async def _session(self, handle: VmHandle) -> AsyncIterator[QMPClient]:
        # QEMU's QMP socket serves one client at a time: serialise our sessions per VM.
        lock = self._locks.setdefault(handle.name, asyncio.Lock())
        async with lock:
            client = QMPClient(handle.name)
            try:
                await asyncio.wait_for(client.connect(os.fspath(RunFiles(handle.run_dir).qmp)), 10)
            except (OSError, QMPError, TimeoutError) as exc:
                raise VmmError(f"cannot reach QMP of {handle.name}: {exc}") from exc
            try:
                yield client
            finally:
                with contextlib.suppress(Exception):
                    await client.disconnect()

    async def _require_running(self, handle: VmHandle) -> None:
        if not self._is_ours(handle):
            raise VmNotRunning(f"VM {handle.name} is not running", hint="start the sandbox first")

    def _is_ours(self, handle: VmHandle) -> bool:
        # A recycled pid must not be mistaken for our VM: check its argv carries the name.
        argv = proc.process_cmdline(handle.pid)
        return (
            bool(argv)
            and proc.pid_alive(handle.pid)
            and f"guest={handle.name},process={handle.name}" in argv
        )

    async def _destroy_run_dir(self, files: RunFiles) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int(files.pidfile.read_text().strip())
            argv = proc.process_cmdline(pid)
            if any(files.run_dir.name in part for part in argv):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                await wait_for_exit(pid, 10)
        self._locks.pop(files.run_dir.name, None)
        shutil.rmtree(files.run_dir, ignore_errors=True)


def _handle_to_json(handle: VmHandle) -> dict[str, Any]:
    data = asdict(handle)
    data["run_dir"] = str(handle.run_dir)
    data["console_log"] = str(handle.console_log)
    data["agent"] = handle.agent.to_dict()
    data["argv"] = list(handle.argv)
    return data


def handle_from_json(data: dict[str, Any]) -> VmHandle:
    return VmHandle(
        name=data["name"],
        driver=data["driver"],
        pid=int(data["pid"]),
        run_dir=Path(data["run_dir"]),
        agent=AgentEndpoint.from_dict(data["agent"]),
        console_log=Path(data["console_log"]),
        argv=tuple(data.get("argv", ())),
        started_at=float(data.get("started_at", 0.0)),
        extra=dict(data.get("extra", {})),
    )
