"""Bring the host in line with the database when the manager starts.

The database is the truth. For each sandbox it says is live:
- `running` (and `paused` by the VMM, e.g. on a full pool): re-adopt the VM when its
  process, sockets and agent answer; else free its resources and mark it `error` ("the VM
  was gone when the manager started"); a sandbox paused to disk has no VM and stays paused;
- `creating`/`starting`: the operation was interrupted by the restart: undo it and mark
  `error` (a stopped sandbox's volume is kept, so it can be started again);
- `stopping`/`destroying`: finish the operation.
Then orphans are removed: VM run directories, TAPs/allocations and volumes that carry
Atelier's names but belong to no live sandbox. Only names that parse back to an Atelier id
are ever touched.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

from atelier.core.lifecycle import LIVE, Status
from atelier.core.sandboxes import SandboxService, handle_from_json
from atelier.db.repos import sandboxes as repo
from atelier.errors import AtelierError
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.host import names
from atelier.runtime.vmm.base import VmState

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """What reconcile found and did."""

    adopted: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    orphans_removed: list[str] = field(default_factory=list)


async def reconcile(service: SandboxService) -> ReconcileReport:
    """Re-adopt, repair and clean up; returns what was done."""
    report = ReconcileReport()
    async with service.db.session() as session:
        rows = await repo.with_status(
            session, [s.value for s in (*LIVE, Status.QUEUED, Status.DESTROYING)]
        )
        service.queue.resume_after(await repo.max_queued_seq(session))
    queued = sorted((r for r in rows if r.status == Status.QUEUED), key=lambda r: r.queued_seq or 0)
    for row in rows:
        status = Status(row.status)
        if status == Status.PAUSED and not row.vm:
            continue  # suspended to disk: no VM to adopt, its saved memory waits for resume
        if status in (Status.RUNNING, Status.PAUSED, Status.STOPPING):
            if await _adopt(service, row.id, row.vm, row.agent_token):
                report.adopted.append(row.id)
                if status == Status.STOPPING:
                    await service.vms.shutdown(row, graceful=True)
                    await service.records.set_status(row.id, Status.STOPPED, stopped=True)
            else:
                report.vanished.append(row.id)
                await service.vms.shutdown(row, graceful=False)
                await service.records.set_status(
                    row.id, Status.ERROR, error=("vm", "the VM was gone when the manager started")
                )
        elif status in (Status.CREATING, Status.STARTING):
            report.interrupted.append(row.id)
            await service.vms.shutdown(row, graceful=False)
            if status == Status.CREATING and row.volume is None:
                with contextlib.suppress(AtelierError):
                    await service.runtime.storage.delete(names.sandbox_volume(row.id), force=True)
            await service.records.set_status(
                row.id,
                Status.ERROR,
                error=(
                    "interrupted",
                    f"the manager restarted while the sandbox was {status.value}",
                ),
            )
        elif status == Status.DESTROYING:
            await service.vms.shutdown(row, graceful=False)
            with contextlib.suppress(AtelierError):
                await service.runtime.storage.delete(names.sandbox_volume(row.id), force=True)
            await service.records.set_status(row.id, Status.DESTROYED, destroyed=True)
    for row in queued:
        service.spawner.enqueue(row.id, row.queued_seq or 0)
        report.requeued.append(row.id)
    report.orphans_removed = await _remove_orphans(service)
    log.info(
        "reconcile: adopted %d, vanished %d, interrupted %d, requeued %d, orphans %d",
        len(report.adopted), len(report.vanished), len(report.interrupted),
        len(report.requeued), len(report.orphans_removed),
    )  # fmt: skip
    return report


async def _adopt(
    service: SandboxService, sandbox_id: str, vm: dict[str, object] | None, token: str | None
) -> bool:
    if not vm or not token:
        return False
    handle = await service.runtime.vmm.adopt(names.vm_name("sbx", sandbox_id))
    if handle is None:
        return False
    expected = handle_from_json(vm)
    if handle.pid != expected.pid:
        return False
    secret = service.secrets.decrypt(token)
    if await service.runtime.vmm.status(handle) == VmState.PAUSED:
        # Frozen vCPUs cannot answer; the process and its sockets are proof enough.
        service.agents.register(sandbox_id, handle.agent, secret)
        service.vms.watch(sandbox_id, handle)
        return True
    try:
        client = await AgentClient.connect(handle.agent, secret, timeout=10)
        await client.health()
    except AtelierError as exc:
        log.warning(
            "sandbox %s: VM %d runs but its agent does not answer: %s", sandbox_id, handle.pid, exc
        )
        with contextlib.suppress(AtelierError):
            await service.runtime.vmm.kill(handle)
        return False
    service.agents.register(sandbox_id, handle.agent, secret, client)
    service.vms.watch(sandbox_id, handle)
    return True


async def _remove_orphans(service: SandboxService) -> list[str]:
    removed: list[str] = []
    async with service.db.session() as session:
        live_rows = await repo.with_status(session, [s.value for s in LIVE])
        existing = await repo.ids(session)
    live = {row.id for row in live_rows}
    vmm = service.runtime.vmm
    root = vmm.run_dir("probe").parent
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            parsed = names.parse_vm(entry.name)
            if parsed and parsed[0] == "sbx" and parsed[1] not in live:
                handle = await vmm.adopt(entry.name)
                if handle is not None:
                    await vmm.kill(handle)
                else:
                    import shutil

                    shutil.rmtree(entry, ignore_errors=True)
                removed.append(f"vm {entry.name}")
    network = service.runtime.network
    if network is not None:
        stale = {a.sandbox_id for a in await network.allocations()} | set(
            await network.host_ports()
        )
        for sandbox_id in sorted(stale - live):
            await network.release(sandbox_id)
            removed.append(f"network {sandbox_id}")
    for volume in await service.runtime.storage.list():
        volume_name = names.parse_volume(volume.name)
        if volume_name and volume_name.kind == "sbx" and volume_name.ident not in existing:
            await service.runtime.storage.delete(volume.name, force=True)
            removed.append(f"volume {volume.name}")
    return removed
