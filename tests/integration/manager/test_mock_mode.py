"""Mock mode is a product feature for UI work: sandboxes without VMs, clearly announced."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from atelier.api.app import create_app
from atelier.config import AtelierConfig, ServerConfig
from atelier.core.assembly import build_manager
from tests.managerkit import paths


async def test_mock_mode_runs_sandboxes_without_vms(tmp_path: Path) -> None:
    config = AtelierConfig(paths=paths(tmp_path), server=ServerConfig(mode="mock"))
    manager = build_manager(config)
    app = create_app(manager, manage_lifecycle=False)
    await manager.start()
    try:
        await manager.auth.create_user("alice")
        _, token = await manager.auth.create_token("alice", "t")
        headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as client:
            health = (await client.get("/health")).json()
            assert health["mode"] == "mock" and "mock" in health["warning"]
            assert health["checks"]["vmm"]["detail"].startswith("mock")
            created = (
                await client.post("/api/sandboxes?wait=true", json={"image": "dev-base"})
            ).json()
            assert created["status"] == "running", created
            assert created["memoryMb"] == 2048
            done = (
                await client.post(
                    f"/api/sandboxes/{created['id']}/exec", json={"argv": ["id", "-un"]}
                )
            ).json()
            assert done["exitCode"] == 0 and done["stdout"].strip() in {"nobody", "root"}
            assert (await client.delete(f"/api/sandboxes/{created['id']}")).status_code == 204
        await asyncio.sleep(0)
        assert not (config.paths.run_dir / "vm" / f"atl-sbx-{created['id']}").exists()
    finally:
        await manager.stop()
