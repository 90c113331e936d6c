"""A workspace end to end through a real `atelier serve`: prebuild (disk + memory), spawn from
the memory snapshot, secrets, a dev command behind Caddy with a live log stream, pause and
resume, staleness after a push and the rebuild. One sandbox serves most assertions (boots
are slow under TCG); everything is destroyed and checked gone at the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from atelier.runtime.host import proc
from tests.hostkit import free_port, vms_named
from tests.integration.manager.conftest import ATELIER, ManagerProcess, api, json_of, make_user
from tests.integration.proxy.harness import loopback_client
from tests.integration.workspaces.conftest import (
    DOMAIN,
    GitServer,
    file_contains,
    git_server,
    kill_vms,
    workspace_config,
)

pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow, pytest.mark.timeout(1800)]

SECRET = "sv-" + secrets.token_hex(12)
FILE_SECRET = "fs-" + secrets.token_hex(12)


def definition(git: GitServer) -> dict[str, Any]:
    return {
        "name": "shop",
        "image": "minimal",
        "resources": {"vcpus": 1, "memoryMb": 512, "diskGb": 4},
        "repos": [{"url": git.guest_url(), "branch": "main", "path": "app"}],
        "init": [
            {
                "name": "marker",
                "command": "echo built > .marker && echo run >> ~/init-runs",
                "cwd": "app",
            },
        ],
        "dev": [
            {
                "name": "web",
                "command": "python3 -m http.server 8000",
                "cwd": "app",
                "port": 8000,
                "env": {"PYTHONUNBUFFERED": "1"},
                "autostart": True,
            },
            {
                "name": "counter",
                "command": "i=0; while :; do i=$((i+1)); echo $i > /dev/shm/count; sleep 0.2; done",
            },
        ],
        "env": {"APP_MODE": "dev"},
        "secrets": {"env": ["APP_TOKEN"], "files": [{"name": "npmrc", "path": "~/.npmrc"}]},
    }


async def exec_(
    client: httpx.AsyncClient, sandbox_id: str, argv: list[str], user: str = "dev"
) -> str:
    done = json_of(
        await client.post(f"/api/sandboxes/{sandbox_id}/exec", json={"argv": argv, "user": user})
    )
    assert done["exitCode"] == 0, done
    return str(done["stdout"])


@contextlib.asynccontextmanager
async def event_log(url: str, token: str) -> AsyncIterator[list[str]]:
    """Every line of the event stream while the block runs."""
    lines: list[str] = []

    async def read() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        while True:  # reconnects across the manager restart of the scenario
            with contextlib.suppress(httpx.HTTPError):
                async with (
                    httpx.AsyncClient(base_url=url, headers=headers, timeout=None) as client,
                    client.stream("GET", "/api/events") as response,
                ):
                    async for line in response.aiter_lines():
                        lines.append(line)
            await asyncio.sleep(0.5)

    task = asyncio.create_task(read())
    try:
        yield lines
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task


async def wait_for(predicate: Any, what: str, timeout: float = 120) -> None:
    """Poll an HTTP-observable condition (nothing to subscribe to) every half second."""
    for _ in range(int(timeout * 2)):
        if await predicate():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting until {what}")


async def test_workspace_end_to_end(tmp_path: Path, pool: Path, artifacts_dir: Path) -> None:
    async with git_server(tmp_path) as git:
        config = workspace_config(tmp_path, pool, port=free_port(), git_port=git.port, proxy=True)
        alice = await make_user(config, "alice")
        manager = ManagerProcess(config, tmp_path)
        await manager.start()
        try:
            async with (
                event_log(manager.url, alice.token) as events,
                await api(manager.url, alice.token) as client,
            ):
                await _scenario(client, config, manager, alice.token, git, pool)
                await asyncio.sleep(1)  # the last events reach the stream
            assert events, "the event stream was empty"
            assert SECRET not in "\n".join(events) and FILE_SECRET not in "\n".join(events)
            assert SECRET not in manager.log.read_text(errors="replace")
        finally:
            await manager.stop()
            (artifacts_dir / "manager.log").write_bytes(manager.log.read_bytes())
            await kill_vms(tmp_path)
    leftovers = [p.name for p in pool.iterdir() if p.name.startswith("atl-")]
    assert not [n for n in leftovers if n.startswith(("atl-sbx-", "atl-pre-"))], leftovers


async def _scenario(
    client: httpx.AsyncClient,
    config: Any,
    manager: ManagerProcess,
    token: str,
    git: GitServer,
    pool: Path,
) -> str:
    first_commit = (
        await proc.run(["git", "-C", git.work, "rev-parse", "HEAD"], timeout=10)
    ).text.strip()
    body = {
        "definition": definition(git),
        "secretValues": {"APP_TOKEN": SECRET, "npmrc": FILE_SECRET},
    }
    created = json_of(await client.post("/api/workspaces", json=body))
    ws = created["id"]
    assert SECRET not in json.dumps(created) and FILE_SECRET not in json.dumps(created)
    assert [s["set"] for s in created["secrets"]] == [True, True]

    # The first prebuild was queued on create; join it.
    built = json_of(await client.post(f"/api/workspaces/{ws}/prebuild", params={"wait": "true"}))
    assert built["status"] == "ready", built
    assert built["commits"] == {"app": first_commit}
    assert built["memorySnapshot"] is True
    assert {s["name"]: s["status"] for s in built["steps"]}["marker"] == "ok"
    log = json_of(await client.get(f"/api/workspaces/{ws}/prebuilds/{built['id']}/logs"))
    assert "echo built > .marker" in log["text"] and log["done"] is True

    sandbox = json_of(
        await client.post("/api/sandboxes", params={"wait": "true"}, json={"workspaceId": ws})
    )
    sandbox_id = sandbox["id"]
    assert sandbox["status"] == "running", sandbox
    origins = json_of(await client.get(f"/api/workspaces/{ws}/sandboxes"))
    assert origins[0] == {
        **origins[0],
        "sandboxId": sandbox_id,
        "mode": "memory",
        "prebuildId": built["id"],
    }

    # The repo and the init marker are there; init did not run again.
    assert (
        await exec_(client, sandbox_id, ["cat", "/home/dev/workspace/app/.marker"])
    ) == "built\n"
    assert (await exec_(client, sandbox_id, ["cat", "/home/dev/init-runs"])) == "run\n"
    assert "# app" in await exec_(client, sandbox_id, ["cat", "/home/dev/workspace/app/README.md"])
    hostname = await exec_(client, sandbox_id, ["hostname"])
    assert hostname.strip() == f"sandbox-{sandbox_id}"
    # Secrets reach guest processes (compared inside the guest: never printed).
    check = f'test "$APP_TOKEN" = "{SECRET}" && test "$APP_MODE" = dev && echo visible'
    assert (await exec_(client, sandbox_id, ["bash", "-lc", check])).strip() == "visible"
    npmrc = f'test "$(cat ~/.npmrc)" = "{FILE_SECRET}" && readlink ~/.npmrc'
    assert (await exec_(client, sandbox_id, ["bash", "-lc", npmrc])).startswith("/run/")

    await _dev_command(client, config, token, sandbox_id)
    await _pause_resume(client, manager, sandbox_id)
    await _secrets_absent(client, manager, token, pool, ws, built)
    await _stale_and_rebuild(client, git, ws, built["id"])

    assert (await client.delete(f"/api/sandboxes/{sandbox_id}")).status_code == 204
    assert (await client.delete(f"/api/workspaces/{ws}")).status_code == 204
    snapshots = config.paths.data_dir / "snapshots"
    assert not snapshots.exists() or list(snapshots.iterdir()) == []
    return str(sandbox_id)


async def _dev_command(client: httpx.AsyncClient, config: Any, token: str, sandbox_id: str) -> None:
    async def running() -> bool:
        found = json_of(await client.get(f"/api/sandboxes/{sandbox_id}/dev/web"))
        return bool(found["state"] == "running")

    await wait_for(running, "the dev command runs")
    web = json_of(await client.get(f"/api/sandboxes/{sandbox_id}/dev/web"))
    assert web["url"] == f"http://dev-web-{sandbox_id}.{DOMAIN}:{config.proxy.http_port}/", web
    marker = f"/probe-{secrets.token_hex(4)}"
    seen = asyncio.Event()
    received: list[str] = []

    async def stream() -> None:
        path = f"/api/sandboxes/{sandbox_id}/dev/web/logs"
        async with client.stream("GET", path, params={"follow": "true", "lines": "5"}) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    received.append(json.loads(line[5:])["text"])
                    if marker in "".join(received):
                        seen.set()
                        return

    reader = asyncio.create_task(stream())
    try:
        async with loopback_client(__import__("ssl").create_default_context()) as web_client:

            async def answered() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    response = await web_client.get(
                        web["url"].rstrip("/") + marker,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    return response.status_code == 404  # http.server: no such file, but it answered
                return False

            await wait_for(answered, "the dev URL answers through Caddy", timeout=60)
            listing = await web_client.get(web["url"], headers={"Authorization": f"Bearer {token}"})
            assert listing.status_code == 200 and ".marker" in listing.text
            anonymous = await web_client.get(web["url"])
            assert anonymous.status_code == 401  # visibility `members` needs a credential
            public = await client.put(f"/api/sandboxes/{sandbox_id}/dev/web/visibility",
                                      json={"visibility": "public"})  # fmt: skip
            assert public.status_code == 200, public.text
            assert (await web_client.get(web["url"])).status_code == 200
        await asyncio.wait_for(seen.wait(), 60)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await reader
    # The line arrived while the server was still running: streamed, not at exit.
    assert json_of(await client.get(f"/api/sandboxes/{sandbox_id}/dev/web"))["state"] == "running"


async def _pause_resume(
    client: httpx.AsyncClient, manager: ManagerProcess, sandbox_id: str
) -> None:
    state = secrets.token_hex(8)
    await exec_(client, sandbox_id, ["sh", "-c", f"echo {state} > /dev/shm/state"])
    counter = json_of(await client.post(f"/api/sandboxes/{sandbox_id}/dev/counter/start"))
    web = json_of(await client.get(f"/api/sandboxes/{sandbox_id}/dev/web"))
    assert counter["state"] == "running" and counter["pid"], counter
    await asyncio.sleep(1)
    before = int(await exec_(client, sandbox_id, ["cat", "/dev/shm/count"]))
    paused = json_of(await client.post(f"/api/sandboxes/{sandbox_id}/pause"))
    assert paused["status"] == "paused", paused
    assert vms_named(f"atl-sbx-{sandbox_id}") == []
    refused = await client.post(f"/api/sandboxes/{sandbox_id}/exec", json={"argv": ["true"]})
    assert refused.status_code == 409
    # A manager restart finds no VM to adopt; the saved memory keeps the sandbox paused.
    await manager.stop()
    await manager.start()
    still = json_of(await client.get(f"/api/sandboxes/{sandbox_id}"))
    assert still["status"] == "paused", still
    resumed = json_of(await client.post(f"/api/sandboxes/{sandbox_id}/resume"))
    assert resumed["status"] == "running", resumed
    # tmpfs content and the same processes: the memory came back, nothing was rebooted.
    assert (await exec_(client, sandbox_id, ["cat", "/dev/shm/state"])).strip() == state
    again = json_of(await client.get(f"/api/sandboxes/{sandbox_id}/dev/counter"))
    assert (again["state"], again["pid"]) == ("running", counter["pid"])
    web_again = json_of(await client.get(f"/api/sandboxes/{sandbox_id}/dev/web"))
    assert web_again["pid"] == web["pid"]
    await asyncio.sleep(1)
    after = int(await exec_(client, sandbox_id, ["cat", "/dev/shm/count"]))
    assert after > before
    await client.post(f"/api/sandboxes/{sandbox_id}/dev/counter/stop")


async def _secrets_absent(
    client: httpx.AsyncClient,
    manager: ManagerProcess,
    token: str,
    pool: Path,
    ws: str,
    built: dict[str, Any],
) -> None:
    pages = ["/api/workspaces", f"/api/workspaces/{ws}", f"/api/workspaces/{ws}/secrets"]
    for page in [*pages, f"/api/workspaces/{ws}/prebuilds"]:
        text = (await client.get(page)).text
        assert SECRET not in text and FILE_SECRET not in text, page
    cli = await proc.run(
        [ATELIER, "workspace", "show", ws, "--json"], timeout=60,
        env={"ATELIER_URL": manager.url, "ATELIER_TOKEN": token},
    )  # fmt: skip
    assert json.loads(cli.text)["id"] == ws
    assert SECRET not in cli.text and FILE_SECRET not in cli.text
    data_dir = manager.config.paths.data_dir
    files = [data_dir / "atelier.db", data_dir / "atelier.db-wal"]
    files += [p for p in pool.iterdir() if p.name.startswith("atl-pre-")]
    files += list((data_dir / "snapshots").iterdir())
    files += list((data_dir / "prebuilds").iterdir())
    assert any(p.name.endswith(".state") for p in files), files
    needles = [SECRET.encode(), FILE_SECRET.encode()]
    for path in files:
        if path.exists():
            assert not file_contains(path, needles), f"a secret is in {path}"


async def _stale_and_rebuild(
    client: httpx.AsyncClient, git: GitServer, ws: str, old_id: str
) -> None:
    fresh = json_of(
        await client.post(f"/api/workspaces/{ws}/prebuild/check", params={"rebuild": "false"})
    )
    assert fresh["stale"] is False, fresh
    new_commit = await git.commit("CHANGELOG.md", "pushed\n")
    stale = json_of(await client.post(f"/api/workspaces/{ws}/prebuild/check"))
    assert stale["stale"] is True and stale["rebuilding"] is True, stale
    assert stale["remote"] == {"app": new_commit}
    state = json_of(await client.get(f"/api/workspaces/{ws}"))["prebuild"]
    assert state["status"] in ("queued", "building") and state["readyId"] == old_id
    rebuilt = json_of(await client.post(f"/api/workspaces/{ws}/prebuild", params={"wait": "true"}))
    assert rebuilt["status"] == "ready" and rebuilt["id"] != old_id, rebuilt
    assert rebuilt["commits"] == {"app": new_commit}
    prebuilds = {
        p["id"]: p["status"] for p in json_of(await client.get(f"/api/workspaces/{ws}/prebuilds"))
    }
    assert prebuilds[old_id] == "superseded"
