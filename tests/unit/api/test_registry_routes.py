"""`/api/registry` in-process: off by default; with the caches on, per-cache status (here
with nothing installed, so nothing answers) and the `registry` health check."""

from __future__ import annotations

from pathlib import Path

import httpx

from atelier.api.app import create_app
from atelier.config import AtelierConfig
from atelier.core.assembly import build_manager
from atelier.core.manager import Manager
from atelier.runtime.registry.config import RegistryConfig
from tests.hostkit import free_port
from tests.managerkit import fake_runtime


async def call(manager: Manager, path: str) -> httpx.Response:
    app = create_app(manager, manage_lifecycle=False)
    await manager.start()
    try:
        admin = await manager.auth.create_user("admin", role="admin")
        _view, token = await manager.auth.create_token(admin.id, "t")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://m") as http:
            return await http.get(path, headers={"Authorization": f"Bearer {token}"})
    finally:
        await manager.stop()


def config(tmp: Path, registry: RegistryConfig) -> AtelierConfig:
    return AtelierConfig(
        paths={"data_dir": tmp / "d", "run_dir": tmp / "r", "cache_dir": tmp},
        registry=registry,
        ssh={"port": 0, "listen_host": "127.0.0.1"},
    )


async def test_registry_is_off_by_default(tmp_path: Path) -> None:
    cfg = config(tmp_path, RegistryConfig())
    response = await call(build_manager(cfg, runtime=fake_runtime(cfg)), "/api/registry")
    assert response.json() == {"mode": "off", "ok": True, "caches": []}


async def test_status_per_cache_and_cache_ports_allowed(tmp_path: Path) -> None:
    registry = RegistryConfig(mode="service", npm_port=free_port(), pypi_port=free_port())
    cfg = config(tmp_path, registry)
    manager = build_manager(cfg, runtime=fake_runtime(cfg))
    allowed = manager.config.network.guest_allowed_host_ports
    assert allowed == sorted([registry.npm_port, registry.pypi_port])
    assert "package_caches" in [e.name for e in manager.extensions]
    body = (await call(manager, "/api/registry")).json()
    assert body["mode"] == "service" and body["ok"] is False
    assert [c["name"] for c in body["caches"]] == ["verdaccio", "pypi-cache"]
    npm = body["caches"][0]
    assert npm["running"] is False and npm["pins"]["verdaccio"] == "6.10.4"
    assert npm["file_hits"] == 0 and npm["size_bytes"] == 0
