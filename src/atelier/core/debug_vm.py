"""Throwaway VMs for checking that a host can boot sandboxes (`atelier debug-vm`).

Boots an image straight from its file with an ephemeral disk (writes are discarded), waits
for the agent, optionally runs one command, reports where the boot time went, and tears
everything down — also when any step fails. `keep` leaves the VM running; its agent token
is kept (0600) in the VM's run directory so `stop` can power it off cleanly.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from atelier.config import AtelierConfig
from atelier.core.assets import BootAssets
from atelier.errors import AtelierError, NotFound
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.host import names
from atelier.runtime.vmm.base import BootSpec, Disk, VmHandle, Vmm
from atelier.runtime.vmm.select import make_vmm, select_vmm

TOKEN_FILE = "debug-token"
_AGENT_UP = re.compile(r"agent up on .* at ([0-9.]+) s \(([0-9.]+) s in init\)")


@dataclass
class Timings:
    """Where a boot's time went, in milliseconds.

    `vmm_ms`: starting the VMM process until its sockets exist (host clock).
    `kernel_ms`: guest kernel start until the Atelier init runs (guest uptime; includes the
    boot bundle's stage 1). `init_ms`: init start until the agent serves (guest uptime).
    `agent_ready_ms`: VMM spawn until the agent answered a health request (host clock).
    """

    vmm_ms: float = 0.0
    kernel_ms: float | None = None
    init_ms: float | None = None
    agent_ready_ms: float = 0.0
    exec_ms: float | None = None
    teardown_ms: float | None = None


@dataclass
class ExecOutput:
    """The result of `--exec`."""

    command: str
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str


@dataclass
class DebugVmResult:
    """What `debug-vm start` reports."""

    name: str
    vmm: str
    vmm_reason: str
    kernel: str
    image: str
    memory_mb: int
    vcpus: int
    timings: Timings
    exec: ExecOutput | None = None
    kept: bool = False
    console_log: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DebugVmService:
    """Boots, probes and tears down throwaway VMs."""

    def __init__(self, config: AtelierConfig, vmm: Vmm | None = None) -> None:
        self._config = config
        self._assets = BootAssets(config)
        choice = select_vmm(config.vmm)
        self._vmm = vmm or make_vmm(config.vmm, config.paths.run_dir)
        self._vmm_reason = choice.reason

    async def start(
        self,
        *,
        image: str | None = None,
        command: str | None = None,
        keep: bool = False,
        memory_mb: int | None = None,
        vcpus: int = 1,
        timeout: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> DebugVmResult:
        """Boot `image`, wait for the agent, run `command`, tear down unless `keep`."""
        say = progress or (lambda _msg: None)
        # minimal: a host check should not wait for (or build) the larger default image.
        image_name = image or "minimal"
        built = self._assets.image(image_name)
        say("resolving kernel and boot bundle")
        files = await self._assets.boot_files()
        name = names.vm_name("dbg", names.new_id())
        token = secrets.token_urlsafe(24)
        memory = memory_mb or built.manifest.recommended_memory_mb
        spec = BootSpec(
            name=name,
            kernel=files.kernel.vmlinux,
            initrd=files.bundle,
            cmdline=(f"atelier.token={token}", f"atelier.hostname={name}"),
            vcpus=vcpus,
            memory_mb=memory,
            disks=(Disk(built.path, cache="unsafe", ephemeral=True),),
        )
        timings = Timings()
        result = DebugVmResult(
            name=name,
            vmm=self._vmm.name,
            vmm_reason=self._vmm_reason,
            kernel=files.label,
            image=image_name,
            memory_mb=memory,
            vcpus=vcpus,
            timings=timings,
        )
        deadline_s = timeout or self._config.vmm.boot_timeout_s
        handle: VmHandle | None = None
        client: AgentClient | None = None
        try:
            say(f"booting {name} ({self._vmm.name}, {files.label}, image {image_name})")
            spawned = time.monotonic()
            handle = await self._vmm.boot(spec)
            timings.vmm_ms = _ms(time.monotonic() - spawned)
            result.console_log = str(handle.console_log)
            result.extra = dict(handle.extra)
            if keep:
                (handle.run_dir / TOKEN_FILE).write_text(token)
                (handle.run_dir / TOKEN_FILE).chmod(0o600)
            say("waiting for the agent")
            client = await AgentClient.wait_ready(
                handle.agent, token, deadline=spawned + deadline_s
            )
            timings.agent_ready_ms = _ms(time.monotonic() - spawned)
            guest_milestones(handle.console_log, timings)
            if command is not None:
                say(f"running: {command}")
                started = time.monotonic()
                done = await client.exec(shell=command, timeout=deadline_s)
                timings.exec_ms = _ms(time.monotonic() - started)
                result.exec = ExecOutput(
                    command,
                    done.exit_code,
                    done.signal,
                    done.stdout.decode("utf-8", "replace"),
                    done.stderr.decode("utf-8", "replace"),
                )
            result.kept = keep
        except BaseException:
            if handle is not None and not keep:
                await self._vmm.kill(handle)
            elif handle is not None:
                result.kept = True
            raise
        finally:
            if client is not None:
                with contextlib.suppress(AtelierError, OSError):
                    if not result.kept:
                        await client.poweroff()
                await client.close()
        if not result.kept:
            started = time.monotonic()
            await self._vmm.stop(handle, timeout=10)
            timings.teardown_ms = _ms(time.monotonic() - started)
        return result

    async def running(self) -> list[str]:
        """Names of debug VMs that are running."""
        found = []
        for name in _run_dirs(self._vmm, self._config.paths.run_dir):
            parsed = names.parse_vm(name)
            if parsed and parsed[0] == "dbg" and await self._vmm.adopt(name) is not None:
                found.append(name)
        return found

    async def stop(self, name: str | None = None) -> list[str]:
        """Power off one kept debug VM (or all of them); returns the names stopped."""
        targets = [name] if name else await self.running()
        stopped = []
        for target in targets:
            handle = await self._vmm.adopt(target)
            if handle is None:
                if name:
                    raise NotFound(
                        f"no running debug VM {target!r}",
                        hint="list them with `atelier debug-vm status`",
                    )
                continue
            token_file = handle.run_dir / TOKEN_FILE
            with contextlib.suppress(AtelierError, OSError):
                async with await AgentClient.connect(
                    handle.agent, token_file.read_text(), timeout=5
                ) as client:
                    await client.poweroff()
            await self._vmm.stop(handle, timeout=10)
            stopped.append(target)
        return stopped


def _run_dirs(vmm: Vmm, run_root: Path) -> list[str]:
    root = vmm.run_dir("x").parent
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def guest_milestones(console: Path, timings: Timings) -> None:
    # The init logs "agent up on <channel> at <uptime> s (<spent> s in init)" on the console.
    with contextlib.suppress(OSError):
        match = _AGENT_UP.search(console.read_text(errors="replace"))
        if match:
            agent_up, in_init = float(match[1]), float(match[2])
            timings.kernel_ms = _ms(agent_up - in_init)
            timings.init_ms = _ms(in_init)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def render_json(result: DebugVmResult) -> str:
    """One JSON object, as `--json` prints it."""
    return json.dumps(result.to_dict(), indent=2)
