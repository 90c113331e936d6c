"""A failure after any spawn step leaves nothing behind and names the step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.core.sandboxes import CreateRequest
from atelier.core.spawn import SpawnContext
from tests.hostkit import free_port, vms_named
from tests.integration.manager.conftest import make_user, manager_config

pytestmark = [pytest.mark.vm, pytest.mark.root]

STEPS = ["volume", "network", "boot", "agent", "guest_setup"]


class Injected(RuntimeError):
    """The failure a test injects after a step."""


@pytest.fixture
async def manager(tmp_path: Path, pool: Path) -> AsyncIterator[Manager]:
    config = manager_config(tmp_path, pool, free_port())
    started = Manager(config)
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


@pytest.mark.parametrize("step", STEPS)
async def test_failure_after_each_step_rolls_back(manager: Manager, pool: Path, step: str) -> None:
    user = await make_user(manager.config, "alice")
    principal = Principal(user.user_id, "alice", "member")

    async def fail_after(finished: str, ctx: SpawnContext) -> None:
        if finished == step:
            raise Injected(f"injected after {step}")

    manager.sandboxes.pipeline.observers.append(fail_after)
    view = await manager.sandboxes.create(principal, CreateRequest())
    for _ in range(2400):
        view = await manager.sandboxes.get(principal, view.id)
        if view.status in ("error", "running"):
            break
        import asyncio

        await asyncio.sleep(0.1)
    assert view.status == "error", view
    assert view.error is not None and view.error["step"] == step
    assert f"injected after {step}" in view.error["message"]
    assert vms_named(f"atl-sbx-{view.id}") == []
    assert not (manager.config.paths.run_dir / "vm" / f"atl-sbx-{view.id}").exists()
    assert f"atl-sbx-{view.id}" not in {v.name for v in await manager.runtime.storage.list()}  # type: ignore[union-attr]
    assert manager.runtime is not None and manager.runtime.network is not None
    assert view.id not in {a.sandbox_id for a in await manager.runtime.network.allocations()}
    assert not any(p.name.startswith("atl-sbx-") for p in pool.iterdir())
    if STEPS.index(step) >= STEPS.index("agent"):
        # The failed boot's console stays readable after the VM is gone.
        assert await manager.sandboxes.console_log(principal, view.id), "console log lost"
