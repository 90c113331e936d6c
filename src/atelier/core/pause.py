"""Pause and resume: a running sandbox's memory saved to disk, its VM freed, then resumed.

Pause syncs the guest's filesystems, saves the VM's memory and device state with the
snapshot machinery (`core/restore.capture`), then kills the VM and keeps the volume and the
network allocation; the state file and the guest's agent token are recorded
(`SandboxSuspend`). Resume boots the VMM from that state through the spawn pipeline
(`SpawnRequest.restore`, same identity): processes carry on where they were, with the clock
set again. If the snapshot fails the VM keeps running and the sandbox stays `running`.

A manager restart finds paused sandboxes without a VM; reconcile leaves those whose memory
is saved `paused`, and `recover_suspended` (a start hook) also returns older rows that an
earlier version marked `error` to `paused`, and removes saved memory nobody owns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path

from atelier.core.auth import Principal
from atelier.core.lifecycle import Status
from atelier.core.restore import Restore, capture, supports_memory_snapshots
from atelier.core.sandbox_records import audience
from atelier.core.sandbox_vms import Live
from atelier.core.sandboxes import POOL_FULL, SandboxService, SandboxView, handle_from_json
from atelier.db.models import Sandbox, SandboxSuspend
from atelier.db.repos import prebuilds as pre_repo
from atelier.db.repos import sandboxes as repo
from atelier.errors import AtelierError, Conflict
from atelier.runtime.host import names

log = logging.getLogger(__name__)


def snapshot_dir(service: SandboxService) -> Path:
    """Where memory snapshots live: `<data_dir>/snapshots` (0700)."""
    path = service.config.paths.data_dir / "snapshots"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


async def pause_sandbox(
    service: SandboxService, principal: Principal, sandbox_id: str
) -> SandboxView:
    """Save the sandbox's memory and free its VM; Conflict unless it runs (or no snapshots)."""
    await service.records.load(principal, sandbox_id)
    vmm = service.runtime.vmm
    if not supports_memory_snapshots(vmm):
        raise Conflict(
            f"pausing needs memory snapshots, which the {vmm.name} driver does not offer here",
            hint=f"stop it instead: atelier sandbox stop {sandbox_id}",
        )
    live = service.vms.live(sandbox_id)
    async with live.lock:
        row = await service.records.transition(sandbox_id, Status.PAUSED)
        try:
            await _suspend(service, row, live)
        except BaseException:
            await _carry_on(service, row, live)
            raise
    service.bus.publish("sandbox.paused", {"id": sandbox_id}, audience(row))
    return await service.get(principal, sandbox_id)


async def _suspend(service: SandboxService, row: Sandbox, live: Live) -> None:
    assert row.vm is not None and row.agent_token is not None
    handle = handle_from_json(row.vm)
    client = await service.agents.get(row.id)
    # Whatever the guest has not written back yet would be lost if it is stopped, not resumed.
    await client.exec(["sync"], user="root", timeout=120)
    state = snapshot_dir(service) / names.memory_state("sbx", row.id)
    live.expected_exit = True
    await capture(service.runtime.vmm, handle, state)
    for extension in reversed(service.pipeline.extensions):
        try:
            await extension.on_stopped(row.id)
        except Exception:
            log.exception("extension %s failed on pause of %s", extension.name, row.id)
    await service.agents.forget(row.id)
    if live.watcher is not None:
        live.watcher.cancel()
        live.watcher = None
    await service.runtime.vmm.kill(handle)
    live.expected_exit = False
    async with service.db.session() as session:
        current = await repo.get(session, row.id)
        assert current is not None
        current.vm = None
        session.add(SandboxSuspend(
            sandbox_id=row.id, state_file=str(state), vmm=service.runtime.vmm.name,
            agent_token=row.agent_token,
        ))  # fmt: skip


async def _carry_on(service: SandboxService, row: Sandbox, live: Live) -> None:
    """The snapshot failed: let the VM run on and the sandbox be `running` again."""
    live.expected_exit = False
    if row.vm is not None:
        with contextlib.suppress(AtelierError, OSError):
            await service.runtime.vmm.resume(handle_from_json(row.vm))
    snapshot = snapshot_dir(service) / names.memory_state("sbx", row.id)
    snapshot.unlink(missing_ok=True)
    with contextlib.suppress(AtelierError):
        await service.records.transition(row.id, Status.RUNNING)


async def resume_sandbox(
    service: SandboxService, principal: Principal, sandbox_id: str
) -> SandboxView:
    """Resume from the saved memory; the sandbox stays `paused` if that fails."""
    row = await service.records.load(principal, sandbox_id)
    live = service.vms.live(sandbox_id)
    async with live.lock:
        async with service.db.session() as session:
            row = await repo.get(session, sandbox_id) or row
            saved = await pre_repo.suspend(session, sandbox_id)
        if row.status != Status.PAUSED:
            raise Conflict(
                f"cannot resume sandbox {sandbox_id}: it is {row.status}",
                hint="resume is allowed when the sandbox is paused",
                code="illegal_transition",
            )
        if row.error_step == POOL_FULL:
            raise Conflict(
                f"sandbox {sandbox_id} was paused by its VMM because the storage pool is full",
                hint="it resumes by itself once space is freed (destroy sandboxes or prebuilds)",
            )
        if saved is None or not Path(saved.state_file).is_file():
            raise Conflict(
                f"sandbox {sandbox_id} is paused but its saved memory is gone",
                hint=f"stop it and start it again: atelier sandbox stop {sandbox_id}",
            )
        request = await service.spawner.plan(row, fresh=False)
        token = service.secrets.decrypt(saved.agent_token)
        request = dataclasses.replace(
            request, restore=Restore(Path(saved.state_file), token, new_identity=False)
        )
        ctx = await service.pipeline.start(request, on_step=service.spawner.step_event(row))
        await service.spawner.running(sandbox_id, ctx)
        await _forget(service, sandbox_id)
    service.bus.publish("sandbox.resumed", {"id": sandbox_id}, audience(row))
    return await service.get(principal, sandbox_id)


async def _forget(service: SandboxService, sandbox_id: str) -> None:
    async with service.db.session() as session:
        saved = await pre_repo.suspend(session, sandbox_id)
        if saved is not None:
            Path(saved.state_file).unlink(missing_ok=True)
            await session.delete(saved)


async def discard_saved_memory(service: SandboxService, sandbox_id: str) -> None:
    """Drop a sandbox's saved memory (it was stopped, destroyed or booted afresh)."""
    await _forget(service, sandbox_id)


async def recover_suspended(service: SandboxService) -> list[str]:
    """After reconcile: paused sandboxes whose memory is saved are `paused` again.

    Reconcile leaves paused sandboxes paused; a row an earlier version marked `error` (no
    VM to adopt) still has valid saved memory (and the token inside it). Saved memory of sandboxes that no
    longer exist, and stray state files, are removed. Returns the recovered ids.
    """
    recovered: list[Sandbox] = []
    directory = snapshot_dir(service)
    async with service.db.session() as session:
        known: set[str] = set()
        for saved in await pre_repo.suspends(session):
            row = await repo.get(session, saved.sandbox_id)
            state = Path(saved.state_file)
            if (
                row is None
                or row.status in (Status.DESTROYED, Status.STOPPED)
                or not state.is_file()
            ):
                state.unlink(missing_ok=True)
                await session.delete(saved)
                continue
            known.add(state.name)
            if row.status == Status.ERROR and row.error_step == "vm" and row.vm is None:
                row.status = Status.PAUSED.value
                row.error_step = row.error_message = None
                recovered.append(row)
    for entry in directory.iterdir():
        parsed = names.parse_memory_state(entry.name)
        if parsed and parsed[0] == "sbx" and entry.name not in known:
            entry.unlink(missing_ok=True)
    for row in recovered:
        log.info("sandbox %s: saved memory found; it is paused again", row.id)
        service.bus.publish("sandbox.status", {"id": row.id, "status": "paused"}, audience(row))
    return [row.id for row in recovered]
