"""Creation limits and the spawn queue, with fake drivers whose boot blocks on demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from atelier.config import AtelierConfig, LimitsConfig
from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.core.sandboxes import CreateRequest, handle_to_json
from atelier.db.models import Sandbox
from atelier.db.types import utcnow
from atelier.errors import LimitExceeded
from atelier.runtime.vmm.base import BootSpec, VmHandle
from tests.fakes.storage import FakeStorage
from tests.fakes.vmm import FakeVmm
from tests.managerkit import fake_runtime, paths


class GatedVmm(FakeVmm):
    """Boots wait until the test opens the gate, so spawns pile up in the queue."""

    def __init__(self, run_root: Path) -> None:
        super().__init__(run_root)
        self.gate = asyncio.Event()
        self.booting = 0

    async def boot(self, spec: BootSpec) -> VmHandle:
        self.booting += 1
        await self.gate.wait()
        return await super().boot(spec)


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[Manager]:
    config = AtelierConfig(
        paths=paths(tmp_path),
        limits=LimitsConfig(max_concurrent_spawns=1, max_sandboxes=4, max_sandboxes_per_user=3),
    )
    runtime = fake_runtime(config)
    gated = GatedVmm(config.paths.run_dir)
    runtime.vmm = gated
    started = Manager(config, runtime=runtime)
    await started.start()
    try:
        yield started
    finally:
        gated.gate.set()
        await started.stop()


async def principal(manager: Manager, name: str) -> Principal:
    user = await manager.auth.create_user(name)
    return Principal(user.id, name, "member")


async def test_spawns_beyond_the_limit_wait_in_arrival_order(manager: Manager) -> None:
    alice = await principal(manager, "alice")
    service = manager.sandboxes
    first = await service.create(alice, CreateRequest(image="minimal"))
    second = await service.create(alice, CreateRequest(image="minimal"))
    third = await service.create(alice, CreateRequest(image="minimal"))
    for _ in range(100):
        if (await service.get(alice, first.id)).status == "creating":
            break
        await asyncio.sleep(0.01)
    views = [await service.get(alice, s.id) for s in (first, second, third)]
    assert [v.status for v in views] == ["creating", "queued", "queued"]
    assert [v.queue_position for v in views] == [None, 1, 2]


async def test_limits_are_429_naming_the_limit(manager: Manager) -> None:
    alice, bob = await principal(manager, "alice"), await principal(manager, "bob")
    for _ in range(3):
        await manager.sandboxes.create(alice, CreateRequest(image="minimal"))
    with pytest.raises(LimitExceeded) as mine:
        await manager.sandboxes.create(alice, CreateRequest(image="minimal"))
    assert mine.value.status == 429 and mine.value.field == "limits.max_sandboxes_per_user"
    await manager.sandboxes.create(bob, CreateRequest(image="minimal"))
    with pytest.raises(LimitExceeded) as host:
        await manager.sandboxes.create(bob, CreateRequest(image="minimal"))
    assert host.value.field == "limits.max_sandboxes"


async def test_idle_sandboxes_are_stopped(tmp_path: Path) -> None:
    config = AtelierConfig(paths=paths(tmp_path), limits=LimitsConfig(idle_stop_minutes=30))
    runtime = fake_runtime(config)
    manager = Manager(config, runtime=runtime)
    await manager.start()
    try:
        owner = await principal(manager, "alice")
        vmm = runtime.vmm
        assert isinstance(vmm, FakeVmm)
        handles = {}
        for sandbox_id, minutes_ago in (("idleidle", 45), ("busybusy", 5)):
            spec = BootSpec(f"atl-sbx-{sandbox_id}", Path("/k"), None, (), 1, 512, ())
            handles[sandbox_id] = await vmm.boot(spec)
            async with manager.db.session() as session:
                session.add(
                    Sandbox(
                        id=sandbox_id, owner_id=owner.user_id, image="minimal", vcpus=1,
                        memory_mb=512, disk_gb=4, status="running", members=[],
                        vm=handle_to_json(handles[sandbox_id]),
                        started_at=utcnow() - timedelta(hours=2),
                        last_activity_at=utcnow() - timedelta(minutes=minutes_ago),
                    )
                )  # fmt: skip
        assert await manager.sandboxes.stop_idle() == ["idleidle"]
        assert (await manager.sandboxes.get(owner, "idleidle")).status == "stopped"
        assert (await manager.sandboxes.get(owner, "busybusy")).status == "running"
        assert "atl-sbx-idleidle" not in vmm.running and "atl-sbx-busybusy" in vmm.running
    finally:
        await manager.stop()


async def test_a_full_pool_pauses_shows_and_resumes_sandboxes(tmp_path: Path) -> None:
    config = AtelierConfig(paths=paths(tmp_path))
    runtime = fake_runtime(config)
    manager = Manager(config, runtime=runtime)
    await manager.start()
    events = manager.bus.subscribe()
    try:
        owner = await principal(manager, "alice")
        vmm, storage = runtime.vmm, runtime.storage
        assert isinstance(vmm, FakeVmm) and isinstance(storage, FakeStorage)
        handle = await vmm.boot(BootSpec("atl-sbx-fullpool", Path("/k"), None, (), 1, 512, ()))
        async with manager.db.session() as session:
            session.add(
                Sandbox(
                    id="fullpool", owner_id=owner.user_id, image="minimal", vcpus=1,
                    memory_mb=512, disk_gb=4, status="running", members=[],
                    vm=handle_to_json(handle),
                )
            )  # fmt: skip
        service = manager.sandboxes
        watch = asyncio.create_task(service.watch_pool(0.01))
        storage.free = 1024  # the pool is full, and QEMU paused the writer (werror=enospc)
        vmm.paused.add(handle.name)
        for _ in range(200):
            if (await service.get(owner, "fullpool")).status == "paused":
                break
            await asyncio.sleep(0.01)
        paused = await service.get(owner, "fullpool")
        assert paused.status == "paused"
        assert paused.error is not None and "storage pool is full" in paused.error["message"]
        storage.free = storage.total  # space was freed
        for _ in range(200):
            if (await service.get(owner, "fullpool")).status == "running":
                break
            await asyncio.sleep(0.01)
        assert (await service.get(owner, "fullpool")).status == "running"
        assert handle.name not in vmm.paused
        watch.cancel()
        kinds = []
        while not events._queue.empty():
            kinds.append((await events.get()).type)
        assert "storage.pool" in kinds
    finally:
        events.close()
        await manager.stop()
