"""Tasks through the API of an in-process manager whose VMs are fakes that can be held.

A held boot keeps sandboxes `creating`, so their tasks stay `starting` for as long as the
test wants: a third task beyond a workspace limit of two waits in `queued`. A boot that
fails puts the task in `failed` with the spawn step and message as its reason, and the
queued task is admitted next.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from atelier.api.app import create_app
from atelier.config import AtelierConfig
from atelier.core.assets import BootAssets
from atelier.core.manager import Manager
from atelier.core.runtime import Choice, Runtime
from atelier.core.tasks.system import install_tasks
from atelier.runtime.opencode import OpencodeConfig
from atelier.runtime.vmm.base import BootSpec, VmHandle
from atelier.runtime.vmm.errors import VmmError
from tests.fakes.storage import FakeStorage
from tests.fakes.vmm import FakeVmm
from tests.managerkit import HOST_IMAGES, paths

pytestmark = pytest.mark.skipif(
    not (HOST_IMAGES / "minimal" / "manifest.json").exists(),
    reason="needs the minimal image and kernel that .ci/run builds",
)


class HeldVmm(FakeVmm):
    """Boots wait until `release` is set; `fail["boot"]` then makes them fail."""

    def __init__(self, run_root: Path) -> None:
        super().__init__(run_root)
        self.release = asyncio.Event()
        self.waiting = 0

    async def boot(self, spec: BootSpec) -> VmHandle:
        self.waiting += 1
        await self.release.wait()
        if "boot" in self.fail:
            self.calls.append(("boot", spec.name))
            raise self.fail["boot"]
        return await super().boot(spec)


@dataclass
class Harness:
    http: httpx.AsyncClient
    headers: dict[str, str]
    vmm: HeldVmm
    manager: Manager


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    config = AtelierConfig(paths=paths(tmp_path), opencode=OpencodeConfig(max_active_tasks=2))
    vmm = HeldVmm(config.paths.run_dir)
    runtime = Runtime(
        vmm=vmm,
        storage=FakeStorage(),
        network=None,
        assets=BootAssets(config),
        choices={k: Choice("fake", "test") for k in ("vmm", "storage", "network")},
    )
    manager = Manager(config, runtime=runtime)
    install_tasks(manager)
    app = create_app(manager, manage_lifecycle=False)
    await manager.start()
    try:
        user = await manager.auth.create_user("alice")
        _view, raw = await manager.auth.create_token(user.id, "tests")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://manager") as http:
            yield Harness(http, {"Authorization": f"Bearer {raw}"}, vmm, manager)
    finally:
        vmm.fail["boot"] = VmmError("test over")
        vmm.release.set()
        await manager.stop()


async def _task(h: Harness, task_id: str) -> dict[str, Any]:
    response = await h.http.get(f"/api/tasks/{task_id}", headers=h.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _until(
    h: Harness, task_id: str, statuses: set[str], *, with_sandbox: bool = False
) -> dict[str, Any]:
    """The task once in one of `statuses` (and, with `with_sandbox`, its sandbox recorded:
    `starting` begins before its first step has created the sandbox)."""
    # Generous: a loaded CI host runs VMs beside this test (no timing is asserted).
    deadline = asyncio.get_running_loop().time() + 180
    task = await _task(h, task_id)
    while task["status"] not in statuses or (with_sandbox and not task["sandboxId"]):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"task {task_id} stayed {task['status']}, wanted {statuses}")
        await asyncio.sleep(0.05)
        task = await _task(h, task_id)
    return task


async def test_limit_queues_and_spawn_failure_fails_with_the_reason(h: Harness) -> None:
    ids = []
    for n in range(3):
        body = {"title": f"task {n}", "prompt": "do it", "start": True}
        created = await h.http.post("/api/tasks", json=body, headers=h.headers)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    first = await _until(h, ids[0], {"starting"}, with_sandbox=True)
    second = await _until(h, ids[1], {"starting"}, with_sandbox=True)
    assert first["sandboxId"] and second["sandboxId"]
    third = await _task(h, ids[2])
    assert third["status"] == "queued" and third["queuePosition"] == 1
    assert third["sandboxId"] is None

    h.vmm.fail["boot"] = VmmError("qemu refused to start: out of memory")
    h.vmm.release.set()
    failed = await _until(h, ids[0], {"failed"})
    assert "step 'boot' failed" in failed["error"]
    assert "out of memory" in failed["error"]
    assert failed["sandboxId"] in failed["error"]
    # The queued task moves up once the others stopped counting against the limit.
    admitted = await _until(h, ids[2], {"starting", "failed"}, with_sandbox=True)
    assert admitted["sandboxId"] not in (first["sandboxId"], second["sandboxId"])


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness
