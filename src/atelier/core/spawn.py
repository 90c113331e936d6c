"""The spawn pipeline: each step allocates one thing and registers how to undo it.

    volume ─► network ─► boot ─► agent ─► guest_setup ─► <extensions: routes, ssh, …>

`create` runs every step; `start` (a stopped sandbox) skips `volume`, whose clone already
holds the sandbox's data, and runs guest setup again in full. With `SpawnRequest.restore`
the `boot` step resumes a memory snapshot instead of booting, and guest setup re-identifies
the restored guest (`core/restore.py`). When a step fails the
finished steps are undone in reverse order (`Rollback`), the failing step's name and
message are returned to the caller, and nothing of the attempt is left on the host.
Step observers (tests, metrics) see every finished step with its duration.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from atelier.config import AtelierConfig
from atelier.core.restore import Restore, reidentify
from atelier.core.rollback import Rollback
from atelier.core.runtime import Runtime
from atelier.errors import AtelierError
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.agent.models import Health
from atelier.runtime.host import names
from atelier.runtime.network.base import Allocation
from atelier.runtime.vmm.base import BootSpec, Disk, Nic, VmHandle

log = logging.getLogger(__name__)

GIB = 1 << 30


@dataclass
class SpawnRequest:
    """What to build: the sandbox's identity and resources."""

    sandbox_id: str
    image: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    hostname: str
    source_volume: str | None = None  # a prebuild to clone instead of the image's base
    guest_ports: tuple[int, ...] = ()  # more guest ports to expose (dev commands)
    restore: Restore | None = None  # resume this memory snapshot instead of booting
    workspace_id: str | None = None


@dataclass
class StepRecord:
    """A finished (or failed) step and how long it took."""

    step: str
    ms: float
    ok: bool = True
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"step": self.step, "ms": self.ms, "ok": self.ok, "detail": self.detail}


@dataclass
class SpawnContext:
    """Everything one spawn or start allocated so far."""

    request: SpawnRequest
    token: str
    volume: str | None = None
    source_volume: str | None = None
    allocation: Allocation | None = None
    handle: VmHandle | None = None
    client: AgentClient | None = None
    steps: list[StepRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class StepFailed(AtelierError):
    """A spawn step failed; `step` names it and the message says why."""

    code = "spawn_failed"
    status = 500

    def __init__(self, step: str, cause: BaseException, steps: list[StepRecord]) -> None:
        reason = (
            cause.message if isinstance(cause, AtelierError) else f"{type(cause).__name__}: {cause}"
        )
        hint = cause.hint if isinstance(cause, AtelierError) else None
        super().__init__(f"step {step!r} failed: {reason}", hint=hint)
        self.step = step
        self.cause = cause
        self.steps = steps


class SandboxExtension(Protocol):
    """A subsystem that joins the lifecycle: proxy routes, SSH keys, workspace setup.

    `on_running` runs as a spawn/start step named after the extension and registers its own
    undo on `rollback`; `on_stopped` runs when the sandbox stops, fails or is destroyed.
    """

    name: str

    async def on_running(self, ctx: SpawnContext, rollback: Rollback) -> None: ...

    async def on_stopped(self, sandbox_id: str) -> None: ...


StepObserver = Callable[[str, SpawnContext], Awaitable[None]]


class SpawnPipeline:
    """Runs the steps for `create` and `start`."""

    def __init__(self, config: AtelierConfig, runtime: Runtime) -> None:
        self._config = config
        self._runtime = runtime
        self._base_locks: dict[str, asyncio.Lock] = {}
        self.extensions: list[SandboxExtension] = []
        self.observers: list[StepObserver] = []

    async def create(
        self, request: SpawnRequest, on_step: StepObserver | None = None
    ) -> SpawnContext:
        """Build a new sandbox from scratch. Raises StepFailed after rolling back."""
        ctx = SpawnContext(request, token=secrets.token_urlsafe(32))
        return await self._run(ctx, fresh=True, on_step=on_step)

    async def start(
        self, request: SpawnRequest, on_step: StepObserver | None = None
    ) -> SpawnContext:
        """Boot an existing (stopped) sandbox volume again, with full guest setup."""
        ctx = SpawnContext(request, token=secrets.token_urlsafe(32))
        ctx.volume = names.sandbox_volume(request.sandbox_id)
        return await self._run(ctx, fresh=False, on_step=on_step)

    async def _run(
        self, ctx: SpawnContext, *, fresh: bool, on_step: StepObserver | None
    ) -> SpawnContext:
        steps: list[tuple[str, Callable[[SpawnContext, Rollback], Awaitable[None]]]] = []
        if fresh:
            steps.append(("volume", self._volume))
        steps += [
            ("network", self._network),
            ("boot", self._boot),
            ("agent", self._agent),
            ("guest_setup", self._guest_setup),
        ]
        steps += [(ext.name, ext.on_running) for ext in self.extensions]
        label = f"spawn {ctx.request.sandbox_id}"
        async with Rollback(label) as rollback:
            for name, step in steps:
                started = time.perf_counter()
                try:
                    await step(ctx, rollback)
                    ctx.steps.append(StepRecord(name, _ms(started)))
                    for observer in [*self.observers, *([on_step] if on_step else [])]:
                        await observer(name, ctx)
                except Exception as exc:
                    ctx.steps.append(StepRecord(name, _ms(started), ok=False, detail=str(exc)))
                    log.warning("%s: step %s failed: %s", label, name, exc)
                    await rollback.unwind()
                    raise StepFailed(name, exc, ctx.steps) from exc
        return ctx

    def logs_dir(self, sandbox_id: str) -> Path:
        """Where a sandbox's console logs are kept after its VM is gone."""
        return self._config.paths.data_dir / "logs" / sandbox_id

    # steps -----------------------------------------------------------------------------

    async def _volume(self, ctx: SpawnContext, rollback: Rollback) -> None:
        storage = self._runtime.storage
        source = ctx.request.source_volume or await self.ensure_base(ctx.request.image)
        name = names.sandbox_volume(ctx.request.sandbox_id)
        # A memory snapshot's disk keeps its size: the restored guest knows it already.
        size = None if ctx.request.restore else ctx.request.disk_gb * GIB
        await storage.clone(source, name, size=size)
        ctx.volume, ctx.source_volume = name, source
        rollback.push(f"delete volume {name}", lambda: storage.delete(name, force=True))

    async def ensure_base(self, image: str) -> str:
        """The base volume of `image`, imported into the pool on first use."""
        built = self._runtime.assets.image(image)
        name = names.base_volume(image, built.manifest.sha256)
        lock = self._base_locks.setdefault(name, asyncio.Lock())
        async with lock:
            existing = {v.name for v in await self._runtime.storage.list()}
            if name not in existing:
                log.info("importing image %s into the pool as %s", image, name)
                await self._runtime.storage.import_base(built.path, name)
        return name

    async def _network(self, ctx: SpawnContext, rollback: Rollback) -> None:
        network = self._runtime.network
        if network is None:
            return
        sandbox_id = ctx.request.sandbox_id
        ports = tuple(sorted({*GUEST_SERVICE_PORTS, *ctx.request.guest_ports}))
        ctx.allocation = await network.allocate(sandbox_id, guest_ports=ports)
        rollback.push(f"release network of {sandbox_id}", lambda: network.release(sandbox_id))

    async def _boot(self, ctx: SpawnContext, rollback: Rollback) -> None:
        files = await self._runtime.assets.boot_files()
        assert ctx.volume is not None
        volume = await self._runtime.storage.get(ctx.volume)
        request = ctx.request
        cmdline = [
            f"atelier.token={ctx.token}",
            f"atelier.hostname={request.hostname}",
            f"atelier.id={request.sandbox_id}",
            "atelier.resize=1",
            "atelier.services=sshd",
        ]
        nics: tuple[Nic, ...] = ()
        if ctx.allocation is not None and self._runtime.network is not None:
            cmdline += list(ctx.allocation.kernel_params())
            nics = (self._runtime.network.nic(ctx.allocation),)
        spec = BootSpec(
            name=names.vm_name("sbx", request.sandbox_id),
            kernel=files.kernel.vmlinux,
            initrd=files.bundle,
            cmdline=tuple(cmdline),
            vcpus=request.vcpus,
            memory_mb=request.memory_mb,
            disks=(Disk(volume.path, cache="writeback"),),
            nics=nics,
            restore_from=request.restore.state_file if request.restore else None,
        )
        vmm = self._runtime.vmm
        handle = await vmm.boot(spec)
        ctx.handle = handle

        async def kill() -> None:
            keep_console(handle, self.logs_dir(request.sandbox_id))
            await vmm.kill(handle)

        rollback.push(f"kill VM {handle.name}", kill)

    async def _agent(self, ctx: SpawnContext, rollback: Rollback) -> None:
        assert ctx.handle is not None
        deadline = time.monotonic() + self._config.vmm.boot_timeout_s
        # A restored guest still holds the snapshot's token until guest setup rotates it.
        token = ctx.request.restore.token if ctx.request.restore else ctx.token
        client = await AgentClient.wait_ready(ctx.handle.agent, token, deadline=deadline)
        ctx.client = client
        rollback.push("close agent connection", client.close)

    async def _guest_setup(self, ctx: SpawnContext, rollback: Rollback) -> None:
        client = ctx.client
        assert client is not None
        restore = ctx.request.restore
        if restore is not None:
            await reidentify(
                client,
                token=ctx.token,
                hostname=ctx.request.hostname,
                sandbox_id=ctx.request.sandbox_id,
                allocation=ctx.allocation,
                new_identity=restore.new_identity,
            )
        health = await _booted(client, self._config.vmm.boot_timeout_s)
        if health.boot == "none":
            # The agent is not a guest's init (mock mode): there is no machine to set up.
            return
        if restore is None:
            await client.set_time()
            await client.reseed()
        if health.hostname != ctx.request.hostname:
            raise AtelierError(
                f"guest hostname is {health.hostname!r}, expected {ctx.request.hostname!r}",
                code="guest_setup_failed",
            )
        ctx.warnings.extend(health.boot_errors)


def keep_console(handle: VmHandle, logs_dir: Path) -> Path | None:
    """Copy a VM's console log out of its run directory before the VM is removed."""
    try:
        logs_dir.mkdir(parents=True, exist_ok=True)
        target = logs_dir / "console.log"
        shutil.copyfile(handle.console_log, target)
        return target
    except OSError:
        return None


async def _booted(client: AgentClient, timeout: float) -> Health:
    """The agent's health once the init's boot setup (hostname, network, resize) is done."""
    deadline = time.monotonic() + timeout
    while True:
        health = await client.health()
        if health.boot != "booting":
            return health
        if time.monotonic() > deadline:
            raise AtelierError(
                f"the guest init did not finish its boot setup in {timeout:g} s",
                code="guest_setup_failed",
            )
        await asyncio.sleep(0.1)


# Guest ports host services reach: sshd, code-server, OpenCode, noVNC (user networking
# needs them forwarded up front).
GUEST_SERVICE_PORTS = (22, 13337, 4096, 6080)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
