"""Config replication and auth sync between real sandboxes (minimal image, real manager).

Config: a global opencode.json and a workspace's override are written into new sandboxes
(the workspace's values win) and pushed into running ones when the global file changes.
Auth sync: alice opts in; a credential OpenCode would store in sandbox A reaches her
sandbox B (the guest agent reports the change), never her sandbox C that has bob as a
member, and removing it in B removes it from A. Credentials files are written the way
OpenCode writes them: by the `dev` user, inside the guest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.manager.conftest import api, json_of, make_user
from tests.integration.tasks.conftest import Model, running_manager, task_config, until
from tests.managerkit import HOST_IMAGES

pytestmark = [
    pytest.mark.vm,
    pytest.mark.root,
    pytest.mark.skipif(
        not (HOST_IMAGES / "minimal" / "manifest.json").exists(),
        reason="needs the minimal image that .ci/run builds",
    ),
]
CONFIG = "/home/dev/.config/opencode/opencode.json"
AUTH = "/home/dev/.local/share/opencode/auth.json"
TOKEN = {"type": "oauth", "access": "acc-1", "refresh": "ref-1", "expires": 4102444800000}


async def _exec(client: httpx.AsyncClient, sandbox_id: str, command: str) -> dict[str, Any]:
    body = {"command": command, "user": "dev"}
    result: dict[str, Any] = json_of(
        await client.post(f"/api/sandboxes/{sandbox_id}/exec", json=body)
    )
    return result


async def _read(client: httpx.AsyncClient, sandbox_id: str, path: str) -> Any:
    result = await _exec(client, sandbox_id, f"cat {path} 2>/dev/null || echo null")
    return json.loads(result["stdout"] or "null")


async def _until_file(
    client: httpx.AsyncClient, sandbox_id: str, path: str, check: Any, what: str
) -> Any:
    import asyncio

    value = None
    for _ in range(240):
        value = await _read(client, sandbox_id, path)
        if check(value):
            return value
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what}: {path} in {sandbox_id} is {value}")


@pytest.mark.timeout(1800)
async def test_config_replication_and_auth_sync(
    tmp_path: Path, pool: Path, model: Model, artifacts_dir: Path
) -> None:
    config = task_config(tmp_path, pool, model_port=model.port, image="minimal")
    async with running_manager(config, tmp_path, artifacts_dir) as running:
        bob = await make_user(config, "bob")
        async with await api(running.manager.url, running.admin.token) as client:
            put = {"content": json.dumps({"x": {"a": 1, "b": 1}, "share": "disabled"})}
            json_of(await client.put("/api/opencode-config", json=put))
            definition = {"name": "sync", "image": "minimal", "prebuild": {"auto": False}}
            workspace = json_of(await client.post("/api/workspaces", json=definition))
            override = {"content": json.dumps({"x": {"b": 2}})}
            ws_param = {"workspaceId": workspace["id"]}
            json_of(await client.put("/api/opencode-config", params=ws_param, json=override))
            merged = json_of(await client.get("/api/opencode-config/merged", params=ws_param))
            assert json.loads(merged["~/.config/opencode/opencode.json"])["x"] == {"a": 1, "b": 2}

            a = json_of(
                await client.post(
                    "/api/sandboxes?wait=true", json={"workspaceId": workspace["id"], "name": "a"}
                )
            )["id"]
            b = json_of(await client.post("/api/sandboxes?wait=true", json={"name": "b"}))["id"]
            c = json_of(await client.post("/api/sandboxes?wait=true", json={"name": "c"}))["id"]
            json_of(await client.post(f"/api/sandboxes/{c}/members", json={"username": "bob"}))

            # Written at spawn: the workspace's value wins.
            assert await _read(client, a, CONFIG) == {"x": {"a": 1, "b": 2}, "share": "disabled"}
            assert await _read(client, b, CONFIG) == {"x": {"a": 1, "b": 1}, "share": "disabled"}
            # Pushed to running sandboxes on change.
            changed = {"content": json.dumps({"x": {"a": 5, "b": 1}, "share": "disabled"})}
            saved = json_of(await client.put("/api/opencode-config", json=changed))
            assert {p["sandboxId"] for p in saved["pushed"] if p["ok"]} >= {a, b, c}
            assert (await _read(client, a, CONFIG))["x"] == {"a": 5, "b": 2}
            assert (await _read(client, b, CONFIG))["x"] == {"a": 5, "b": 1}

            # Auth sync: off by default, then opted in with the warning shown.
            settings = json_of(await client.get("/api/shared-auth"))
            assert settings["enabled"] is False and "terms" in settings["warning"]
            assert json_of(await client.put("/api/shared-auth", json={"enabled": True}))["enabled"]
            login = json.dumps({"anthropic": TOKEN})
            dirs = "mkdir -p ~/.local/share/opencode"
            assert (await _exec(client, a, f"{dirs} && printf '%s' '{login}' > {AUTH}"))[
                "exitCode"
            ] == 0
            copied = await _until_file(
                client, b, AUTH, lambda v: bool(v and "anthropic" in v), "the copy into B"
            )
            assert copied["anthropic"] == TOKEN
            stored = await until(
                client,
                "/api/shared-auth",
                lambda s: any(x["provider"] == "anthropic" for x in s["credentials"]),
                "the stored credential",
                within=60,
            )
            assert "acc-1" not in json.dumps(stored)  # secrets never leave the manager
            assert await _read(client, c, AUTH) is None  # C has a member: never shared

            # Removal in B propagates to A.
            assert (await _exec(client, b, f"printf '{{}}' > {AUTH}"))["exitCode"] == 0
            await _until_file(
                client,
                a,
                AUTH,
                lambda v: v is not None and "anthropic" not in v,
                "the removal in A",
            )
            settings = json_of(await client.get("/api/shared-auth"))
            assert [x["removed"] for x in settings["credentials"]] == [True]
            assert await _read(client, c, AUTH) is None
        async with await api(running.manager.url, bob.token) as as_bob:
            assert json_of(await as_bob.get("/api/shared-auth"))["credentials"] == []
