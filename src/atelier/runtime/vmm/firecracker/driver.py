"""The Firecracker `Vmm` driver: boot, stop, pause/resume, snapshots, balloon, metrics.

Boot starts Firecracker (directly, or through the jailer), waits for its API socket and
configures it in Firecracker's order: logger, metrics, machine, boot source, drives, NICs,
vsock, entropy, balloon, `InstanceStart`. A `BootSpec.restore_from` loads a snapshot into
the fresh process instead. A snapshot is two files: `<state_file>` and `<state_file>.mem`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from atelier.runtime.agent.endpoint import AgentEndpoint
from atelier.runtime.host import proc
from atelier.runtime.vmm.base import BootSpec, VmHandle, VmState
from atelier.runtime.vmm.config import VmmConfig
from atelier.runtime.vmm.errors import VmmError, VmNotRunning
from atelier.runtime.vmm.firecracker import api, jailer, process
from atelier.runtime.vmm.firecracker import spec as specs
from atelier.runtime.vmm.firecracker.api import ApiFeatures, ApiRequest, FirecrackerApi
from atelier.runtime.vmm.firecracker.errors import FirecrackerFault
from atelier.runtime.vmm.firecracker.process import VmLayout

log = logging.getLogger(__name__)

API_START_TIMEOUT_S = 10.0
_STATES = {"Running": VmState.RUNNING, "Paused": VmState.PAUSED, "Not started": VmState.RUNNING}
_SNAPSHOT_OUT = ("snapshot-out.state", "snapshot-out.mem")


class FirecrackerVmm:
    """The `Vmm` implementation backed by Firecracker (needs hardware KVM to run guests)."""

    name = "firecracker"

    def __init__(self, config: VmmConfig, run_root: Path) -> None:
        self._config = config
        self._run_root = run_root / "vm"

    def run_dir(self, name: str) -> Path:
        """`<run_dir>/vm/<name>`: console log and `vm.json` (and, unjailed, the VM root)."""
        return self._run_root / name

    def layout(self, name: str) -> VmLayout:
        """Where the files of VM `name` live under the current configuration."""
        run_dir = self.run_dir(name)
        if not self._config.use_jailer:
            return VmLayout(name, run_dir, run_dir, jailed=False)
        root = jailer.chroot_root(self._config.jailer_chroot_base, name)
        return VmLayout(name, run_dir, root, jailed=True)

    async def boot(self, spec: BootSpec) -> VmHandle:
        """Start a VM, or resume one from `spec.restore_from`; returns once it runs.

        Raises ValidationError for specs Firecracker cannot run, FirecrackerFault when
        Firecracker refuses a request, VmmError otherwise. Nothing is left behind on failure.
        """
        specs.check_spec(spec)
        self._check_binaries()
        layout = self.layout(spec.name)
        layout.check_socket_paths()
        if await self.adopt(spec.name) is not None:
            raise VmmError(f"VM {spec.name} is already running", hint="stop it first")
        self._remove_files(layout)
        pid: int | None = None
        try:
            self._prepare(layout, spec)
            started, clock = time.time(), time.monotonic()
            argv, pid = await self._spawn(layout, spec)
            await process.wait_for_api(layout, pid, API_START_TIMEOUT_S)
            api_ready_s = time.monotonic() - clock
            async with FirecrackerApi(layout.api_socket, vm=spec.name) as client:
                features = await _features(client)
                await client.call(api.put_logger(process.LOG))
                await client.call(api.put_metrics(process.METRICS))
                if spec.restore_from is not None:
                    await self._restore(client, layout, spec, features)
                else:
                    await self._configure(client, spec, features)
                    await client.call(api.instance_start())
            handle = VmHandle(
                name=spec.name,
                driver=self.name,
                pid=pid,
                run_dir=layout.run_dir,
                agent=AgentEndpoint(
                    kind="vsock-uds", path=layout.vsock, port=specs.AGENT_VSOCK_PORT
                ),
                console_log=layout.console,
                argv=tuple(argv),
                started_at=started,
                extra={
                    "root": str(layout.root),
                    "jailed": "1" if layout.jailed else "0",
                    "api_socket": str(layout.api_socket),
                    "firecracker_version": str(features),
                    # seconds from spawn: API socket up, and InstanceStart or load answered
                    "api_ready_s": f"{api_ready_s:.4f}",
                    "started_s": f"{time.monotonic() - clock:.4f}",
                },
            )
            layout.state.write_text(specs.handle_to_json(handle))
            return handle
        except BaseException:
            await self._teardown(layout, pid)
            raise

    async def stop(self, handle: VmHandle, timeout: float = 10.0) -> None:
        """Send Ctrl-Alt-Del (the guest init shuts down), then kill after `timeout`."""
        if process.is_ours(handle.pid, handle.name):
            with contextlib.suppress(VmmError):
                if await self.status(handle) is VmState.PAUSED:
                    await self.resume(handle)
                await self._call(handle, api.send_ctrl_alt_del())
            if not await proc.wait_for_exit(handle.pid, timeout):
                log.warning(
                    "VM %s did not power off within %.0f s; killing it", handle.name, timeout
                )
        await self.kill(handle)

    async def kill(self, handle: VmHandle) -> None:
        """SIGKILL Firecracker (if it is ours and alive) and remove its files and jail."""
        await self._teardown(_layout_of(handle), handle.pid)

    async def status(self, handle: VmHandle) -> VmState:
        """RUNNING, PAUSED or STOPPED (process gone)."""
        if not process.is_ours(handle.pid, handle.name):
            return VmState.STOPPED
        try:
            info = await self._call(handle, api.describe_instance())
        except VmmError:
            return VmState.RUNNING if process.is_ours(handle.pid, handle.name) else VmState.STOPPED
        return _STATES.get(str(info.get("state")), VmState.RUNNING)

    async def pause(self, handle: VmHandle) -> None:
        """Freeze the vCPUs (PATCH /vm Paused)."""
        await self._call(handle, api.patch_vm(paused=True))

    async def resume(self, handle: VmHandle) -> None:
        """Unfreeze the vCPUs (PATCH /vm Resumed)."""
        await self._call(handle, api.patch_vm(paused=False))

    async def snapshot(self, handle: VmHandle, state_file: Path) -> None:
        """Full snapshot of a paused VM: `<state_file>` plus memory in `<state_file>.mem`."""
        await self.create_snapshot(handle, state_file)

    async def create_snapshot(
        self, handle: VmHandle, state_file: Path, *, diff: bool = False
    ) -> None:
        """Snapshot a paused VM. A diff snapshot's memory file holds only pages dirtied
        since the previous snapshot (sparse); apply it onto the base memory to restore.

        Raises FirecrackerFault (with Firecracker's reason) when the VM is not paused.
        """
        layout = _layout_of(handle)
        mem_file = specs.snapshot_mem_file(state_file)
        state_file.parent.mkdir(parents=True, exist_ok=True)
        if not layout.jailed:
            state_path, mem_path = specs.absolute_snapshot_paths(state_file)
            request = api.create_snapshot(state_path, mem_path, diff=diff)
            await self._call(handle, request, timeout=api.SNAPSHOT_TIMEOUT_S)
            return
        # A jailed Firecracker writes only inside its chroot; move the files out after.
        state_name, mem_name = _SNAPSHOT_OUT
        for name in _SNAPSHOT_OUT:
            (layout.root / name).unlink(missing_ok=True)
        request = api.create_snapshot(state_name, mem_name, diff=diff)
        await self._call(handle, request, timeout=api.SNAPSHOT_TIMEOUT_S)
        jail = jailer.Jail(layout.root, self._config.jailer_uid, self._config.jailer_gid)
        jail.take(state_name, state_file)
        jail.take(mem_name, mem_file)

    async def adopt(self, name: str) -> VmHandle | None:
        """Rebuild the handle of a VM started earlier, if its Firecracker still runs."""
        try:
            handle = specs.handle_from_json(self.layout(name).state.read_text())
        except (OSError, ValueError, KeyError):
            return None
        if handle.driver != self.name or not process.is_ours(handle.pid, name):
            return None
        return handle if _layout_of(handle).api_socket.exists() else None

    def list_run_dirs(self) -> list[str]:
        """Names of all VM run directories present (live or stale, any driver's)."""
        if not self._run_root.exists():
            return []
        return sorted(p.name for p in self._run_root.iterdir() if p.is_dir())

    # -- Firecracker-only operations ------------------------------------------------------

    async def set_balloon(self, handle: VmHandle, amount_mib: int) -> None:
        """Inflate (reclaim guest memory) or deflate the balloon to `amount_mib`."""
        await self._call(handle, api.patch_balloon(amount_mib))

    async def balloon_statistics(self, handle: VmHandle) -> dict[str, Any]:
        """The guest's memory statistics as the balloon reports them."""
        return dict(await self._call(handle, api.get_balloon_statistics()))

    async def metrics(self, handle: VmHandle) -> dict[str, Any]:
        """Flush Firecracker's metrics and return the newest line."""
        await self._call(handle, api.flush_metrics())
        lines = _layout_of(handle).metrics.read_text().strip().splitlines()
        if not lines:
            raise VmmError(f"Firecracker wrote no metrics for {handle.name}")
        return dict(json.loads(lines[-1]))

    async def instance_info(self, handle: VmHandle) -> dict[str, Any]:
        """GET /: id, state and VMM version."""
        return dict(await self._call(handle, api.describe_instance()))

    # -- internals ------------------------------------------------------------------------

    def _check_binaries(self) -> None:
        needed = [self._config.firecracker_binary]
        if self._config.use_jailer:
            needed.append(self._config.jailer_binary)
            if os.geteuid() != 0:
                raise VmmError(
                    "the Firecracker jailer needs root (vmm.use_jailer=true)",
                    hint="run the manager as root, or set vmm.use_jailer=false",
                )
        for binary in needed:
            if not os.access(binary, os.X_OK):
                raise VmmError(
                    f"{binary} is missing or not executable",
                    hint="install a release with `atelier install firecracker --from ...`",
                )

    def _prepare(self, layout: VmLayout, spec: BootSpec) -> None:
        layout.run_dir.mkdir(parents=True, mode=0o700)
        items: list[tuple[Path, str, bool]] = []
        if spec.restore_from is None:
            items.append((spec.kernel, process.KERNEL, False))
            if spec.initrd is not None:
                items.append((spec.initrd, process.INITRD, False))
        else:
            items.append((spec.restore_from, process.SNAPSHOT_STATE, False))
            items.append((specs.snapshot_mem_file(spec.restore_from), process.SNAPSHOT_MEM, False))
        for index, disk in enumerate(spec.disks):
            items.append((disk.path, process.disk_name(index), not disk.read_only))
        for source, _, _ in items:
            if not source.exists():
                raise VmmError(
                    f"{source} does not exist", hint=f"check the boot spec of {spec.name}"
                )
        if layout.jailed:
            jail = jailer.Jail(layout.root, self._config.jailer_uid, self._config.jailer_gid)
            jail.create()
            for source, name, writable in items:
                jail.place(source, name, writable=writable)
            return
        (layout.root / "run").mkdir()
        for name in (process.LOG, process.METRICS):
            (layout.root / name).touch(mode=0o600)
        for source, name, _ in items:
            (layout.root / name).symlink_to(source.absolute())

    async def _spawn(self, layout: VmLayout, spec: BootSpec) -> tuple[list[str], int]:
        config = self._config
        if not layout.jailed:
            argv = process.firecracker_argv(
                config.firecracker_binary, api_socket=str(layout.api_socket), vm_id=spec.name
            )
            child = await process.start(argv, layout)
            return argv, child.pid
        argv = process.jailer_argv(
            config.jailer_binary,
            exec_file=config.firecracker_binary,
            vm_id=spec.name,
            uid=config.jailer_uid,
            gid=config.jailer_gid,
            chroot_base=config.jailer_chroot_base,
            cgroups=jailer.cgroup_limits(spec.vcpus, spec.memory_mb),
        )
        child = await process.start(argv, layout)
        try:
            return argv, await process.jailed_pid(child, layout, API_START_TIMEOUT_S)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            raise

    async def _configure(
        self, client: FirecrackerApi, spec: BootSpec, features: ApiFeatures
    ) -> None:
        config = self._config
        await client.call(
            api.put_machine_config(
                spec.vcpus, spec.memory_mb, track_dirty_pages=config.firecracker_track_dirty_pages
            )
        )
        initrd = process.INITRD if spec.initrd is not None else None
        await client.call(api.put_boot_source(process.KERNEL, initrd, specs.boot_args(spec)))
        for index, disk in enumerate(spec.disks):
            name = process.disk_name(index)
            await client.call(
                api.put_drive(
                    name, name, root=index == 0, read_only=disk.read_only, cache=disk.cache
                )
            )
        for index, nic in enumerate(spec.nics):
            assert nic.tap is not None  # check_spec refuses NICs without a TAP
            await client.call(api.put_network_interface(specs.iface_id(index), nic.tap, nic.mac))
        cid = spec.vsock_cid or specs.DEFAULT_GUEST_CID
        await client.call(api.put_vsock(process.VSOCK, cid))
        if features.entropy:
            await client.call(api.put_entropy())
        if config.firecracker_balloon:
            await client.call(api.put_balloon(0, stats_s=config.firecracker_balloon_stats_s))

    async def _restore(
        self, client: FirecrackerApi, layout: VmLayout, spec: BootSpec, features: ApiFeatures
    ) -> None:
        taps = {specs.iface_id(i): nic.tap for i, nic in enumerate(spec.nics) if nic.tap}
        request = api.load_snapshot(
            process.SNAPSHOT_STATE,
            process.SNAPSHOT_MEM,
            features,
            resume=True,
            taps=taps,
            vsock_uds=process.VSOCK,
            track_dirty_pages=self._config.firecracker_track_dirty_pages,
        )
        await client.call(request, timeout=api.SNAPSHOT_TIMEOUT_S)
        # Firecracker has read the state and mapped the memory: the names can go.
        for name in (process.SNAPSHOT_STATE, process.SNAPSHOT_MEM):
            (layout.root / name).unlink(missing_ok=True)

    async def _call(
        self, handle: VmHandle, request: ApiRequest, *, timeout: float | None = None
    ) -> Any:
        if not process.is_ours(handle.pid, handle.name):
            raise VmNotRunning(f"VM {handle.name} is not running", hint="start the sandbox first")
        async with FirecrackerApi(_layout_of(handle).api_socket, vm=handle.name) as client:
            return await client.call(request, timeout=timeout)

    async def _teardown(self, layout: VmLayout, pid: int | None) -> None:
        if pid is not None and process.is_ours(pid, layout.name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            await proc.wait_for_exit(pid, 10)
        self._remove_files(layout)

    def _remove_files(self, layout: VmLayout) -> None:
        shutil.rmtree(layout.run_dir, ignore_errors=True)
        if layout.jailed:
            jailer.remove_jail(self._config.jailer_chroot_base, layout.name)
            jailer.remove_cgroup(layout.name)


async def _features(client: FirecrackerApi) -> ApiFeatures:
    try:
        data = await client.call(api.get_version())
        return ApiFeatures.from_version(str(data["firecracker_version"]))
    except (FirecrackerFault, KeyError, TypeError):
        info = await client.call(api.describe_instance())
        return ApiFeatures.from_version(str(info["vmm_version"]))


def _layout_of(handle: VmHandle) -> VmLayout:
    root = Path(handle.extra.get("root", handle.run_dir))
    return VmLayout(handle.name, handle.run_dir, root, jailed=handle.extra.get("jailed") == "1")
