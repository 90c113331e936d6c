"""VMs outlive the manager: SIGKILL and restart re-adopt them; a VM killed behind the
manager's back ends in `error` with its resources freed."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.hostkit import vms_named
from tests.integration.manager.conftest import (
    ManagerProcess,
    api,
    free_port,
    json_of,
    make_user,
    manager_config,
)

pytestmark = [pytest.mark.vm, pytest.mark.root]


async def test_sigkill_restart_readopts_and_watcher_marks_dead_vms(
    tmp_path: Path, pool: Path, artifacts_dir: Path
) -> None:
    config = manager_config(tmp_path, pool, free_port(), max_concurrent_spawns=2)
    alice = await make_user(config, "alice")
    manager = ManagerProcess(config, tmp_path)
    await manager.start()
    ids: list[str] = []
    try:
        async with await api(manager.url, alice.token) as client:
            first, second = await asyncio.gather(
                client.post("/api/sandboxes?wait=true", json={}),
                client.post("/api/sandboxes?wait=true", json={}),
            )
            ids = [json_of(first)["id"], json_of(second)["id"]]
            pids = {sid: vms_named(f"atl-sbx-{sid}") for sid in ids}
            assert all(len(p) == 1 for p in pids.values()), pids

        manager.kill(signal.SIGKILL)
        assert manager.process is not None
        await manager.process.wait()
        assert {sid: vms_named(f"atl-sbx-{sid}") for sid in ids} == pids, (
            "a VM died with the manager"
        )

        await manager.start()
        async with await api(manager.url, alice.token) as client:
            for sid in ids:
                view = json_of(await client.get(f"/api/sandboxes/{sid}"))
                assert view["status"] == "running", view
                echo = json_of(
                    await client.post(f"/api/sandboxes/{sid}/exec", json={"argv": ["echo", sid]})
                )
                assert echo["stdout"] == f"{sid}\n"

            victim = ids[0]
            os.kill(pids[victim][0], signal.SIGKILL)
            for _ in range(300):
                view = json_of(await client.get(f"/api/sandboxes/{victim}"))
                if view["status"] == "error":
                    break
                await asyncio.sleep(0.1)
            assert view["status"] == "error", view
            assert "exited unexpectedly" in view["error"]["message"]
            assert view["network"] is None
            assert not (config.paths.run_dir / "vm" / f"atl-sbx-{victim}").exists()
            # Its data is intact: it can be started again.
            restarted = json_of(await client.post(f"/api/sandboxes/{victim}/start"))
            assert restarted["status"] == "running"
            for sid in ids:
                assert (await client.delete(f"/api/sandboxes/{sid}")).status_code == 204
        assert vms_named("atl-sbx-") == []
    finally:
        await manager.stop()
        (artifacts_dir / "manager.log").write_bytes(manager.log.read_bytes())
        for sid in ids:
            for pid in vms_named(f"atl-sbx-{sid}"):
                os.kill(pid, signal.SIGKILL)
