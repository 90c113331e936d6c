"""Fixtures for task tests: the scripted model server, a webhook receiver, real managers.

Everything listens on 127.0.0.1. A guest reaches the model server through the user network
driver's guest forward (`network.guest_allowed_host_ports`) at the services address.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from atelier.config import AtelierConfig
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.opencode import OpencodeConfig
from tests.fakes.llm_server import ScriptedModel, serve_model
from tests.hostkit import vms_named, xfs_pool
from tests.integration.manager.conftest import (
    ATELIER,
    Credentials,
    ManagerProcess,
    api,
    free_port,
    make_user,
    manager_config,
)


@dataclass
class Model:
    scripted: ScriptedModel
    port: int


@pytest.fixture
def model() -> Iterator[Model]:
    scripted = ScriptedModel()
    with serve_model(scripted) as (_host, port):
        yield Model(scripted, port)


@dataclass
class Webhook:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A loopback receiver that records every JSON body POSTed to it."""
    hook = Webhook("")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            hook.received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Path]:
    async with xfs_pool(tmp_path) as mounted:
        yield mounted


def task_config(
    tmp: Path,
    pool: Path,
    *,
    model_port: int,
    image: str = "dev-base",
    webhook: str | None = None,
    **opencode: Any,
) -> AtelierConfig:
    """A real manager (QEMU, reflink pool, user networking) whose guests reach the model."""
    base = manager_config(tmp, pool, free_port())
    return base.model_copy(
        update={
            "network": NetworkConfig(driver="user", guest_allowed_host_ports=[model_port]),
            "images": base.images.model_copy(update={"default_image": image}),
            "sandbox": base.sandbox.model_copy(update={"disk_gb": 8 if image == "dev-base" else 4}),
            "opencode": OpencodeConfig(webhook_url=webhook, **opencode),
        }
    )


@dataclass
class Running:
    manager: ManagerProcess
    admin: Credentials
    config: AtelierConfig


@contextlib.asynccontextmanager
async def running_manager(
    config: AtelierConfig, workdir: Path, artifacts: Path
) -> AsyncIterator[Running]:
    """`atelier serve` with an admin; VMs it left behind are killed and the log kept."""
    admin = await make_user(config, "alice", admin=True)
    manager = ManagerProcess(config, workdir)
    if config.opencode.webhook_url is not None:  # the config file masks secrets: put it back
        data = json.loads(manager.config_file.read_text())
        data["opencode"]["webhook_url"] = config.opencode.webhook_url.get_secret_value()
        manager.config_file.write_text(json.dumps(data, indent=2))
    await manager.start()
    try:
        yield Running(manager, admin, config)
    finally:
        with contextlib.suppress(Exception):
            async with await api(manager.url, admin.token) as client:
                for sandbox in (await client.get("/api/sandboxes")).json():
                    await client.delete(f"/api/sandboxes/{sandbox['id']}")
        await manager.stop()
        for pid in vms_named(str(config.paths.run_dir)):  # VMs of this manager only
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log = manager.log
        if log.exists():
            (artifacts / "manager.log").write_bytes(log.read_bytes())


async def until(
    client: httpx.AsyncClient,
    path: str,
    check: Any,
    what: str,
    within: float = 900.0,
    every: float = 1.0,
) -> Any:
    """Poll `path` until `check(body)` is true (bounded waiting, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    body: Any = None
    while loop.time() < deadline:
        try:
            response = await client.get(path)
        except httpx.TransportError:  # a keep-alive connection closed under the request
            await asyncio.sleep(every)
            continue
        if response.status_code < 400:
            body = response.json()
            if check(body):
                return body
        await asyncio.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {json.dumps(body)[:2000]}")


__all__ = ["ATELIER", "Model", "Running", "Webhook", "running_manager", "task_config", "until"]
