"""The manager end to end: a real `atelier serve` process, QEMU VMs, a reflink pool."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import websockets

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


async def terminal_run(url: str, token: str, sandbox_id: str, command: str) -> str:
    """Open the terminal WebSocket, type a command, return what the terminal printed."""
    ws_url = (
        url.replace("http://", "ws://") + f"/api/sandboxes/{sandbox_id}/terminal?cols=100&rows=30"
    )
    seen = b""
    async with websockets.connect(ws_url, subprotocols=[f"bearer.{token}"], max_size=None) as ws:  # type: ignore[list-item]  # websockets narrows subprotocol names
        hello = json.loads(await ws.recv())
        assert hello["type"] == "session" and hello["id"]
        await ws.send(json.dumps({"type": "resize", "cols": 120, "rows": 40}))
        # The marker is split in the typed line, so only the shell's output contains it whole.
        await ws.send(f"{command}; echo __DO''NE__\r".encode())
        async with asyncio.timeout(60):
            while b"__DONE__\r\n" not in seen:
                message = await ws.recv()
                if isinstance(message, bytes):
                    seen += message
    return seen.decode("utf-8", "replace")


async def test_sandbox_lifecycle_over_http(tmp_path: Path, pool: Path, artifacts_dir: Path) -> None:
    config = manager_config(tmp_path, pool, free_port())
    alice = await make_user(config, "alice")
    manager = ManagerProcess(config, tmp_path)
    await manager.start()
    sandbox_id = ""
    try:
        async with await api(manager.url, alice.token) as client:
            created = json_of(await client.post("/api/sandboxes?wait=true", json={"name": "e2e"}))
            sandbox_id = created["id"]
            assert created["status"] == "running", created
            assert [s["step"] for s in created["steps"]][:5] == [
                "volume",
                "network",
                "boot",
                "agent",
                "guest_setup",
            ]

            hello = json_of(
                await client.post(
                    f"/api/sandboxes/{sandbox_id}/exec", json={"command": "echo hello"}
                )
            )
            assert hello["exitCode"] == 0 and hello["stdout"] == "hello\n"

            put = await client.put(
                f"/api/sandboxes/{sandbox_id}/files",
                params={"path": "/home/dev/kept.txt"},
                content=b"survives a restart\n",
            )
            assert put.status_code == 204, put.text

            stopped = json_of(await client.post(f"/api/sandboxes/{sandbox_id}/stop"))
            assert stopped["status"] == "stopped"
            last_boot = json_of(await client.get(f"/api/sandboxes/{sandbox_id}/logs"))
            assert last_boot["lines"], "the last boot's console is gone after stop"
            assert vms_named(f"atl-sbx-{sandbox_id}") == []
            again = await client.post(f"/api/sandboxes/{sandbox_id}/stop")
            assert again.status_code == 409 and again.json()["error"] == "illegal_transition"

            started = json_of(await client.post(f"/api/sandboxes/{sandbox_id}/start"))
            assert started["status"] == "running", started
            kept = await client.get(
                f"/api/sandboxes/{sandbox_id}/files", params={"path": "/home/dev/kept.txt"}
            )
            assert kept.content == b"survives a restart\n"
            host = json_of(
                await client.post(f"/api/sandboxes/{sandbox_id}/exec", json={"argv": ["hostname"]})
            )
            assert host["stdout"].strip() == f"sandbox-{sandbox_id}"

            printed = await terminal_run(
                manager.url, alice.token, sandbox_id, "echo from-the-terminal $((6*7))"
            )
            assert "from-the-terminal 42" in printed

            logs = json_of(
                await client.get(f"/api/sandboxes/{sandbox_id}/logs", params={"tail": 50})
            )
            assert logs["lines"], "the console log is empty"

            deleted = await client.delete(f"/api/sandboxes/{sandbox_id}")
            assert deleted.status_code == 204
            gone = json_of(await client.get(f"/api/sandboxes/{sandbox_id}"))
            assert gone["status"] == "destroyed"
        assert vms_named(f"atl-sbx-{sandbox_id}") == []
        assert not any(p.name.startswith("atl-sbx-") for p in pool.iterdir()), sorted(
            p.name for p in pool.iterdir()
        )
        run_dir = config.paths.run_dir / "vm"
        assert not run_dir.exists() or list(run_dir.iterdir()) == []
    finally:
        await manager.stop()
        (artifacts_dir / "manager.log").write_bytes(manager.log.read_bytes())
        for pid in vms_named(f"atl-sbx-{sandbox_id}") if sandbox_id else []:
            import os
            import signal

            os.kill(pid, signal.SIGKILL)
