"""The workspace subsystem in-process over fakes: the API, access, write-only secrets that are
encrypted at rest and absent from events, git sources, spawn planning, and a failed build
that keeps the last good prebuild."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from atelier.api.app import create_app
from atelier.config import AtelierConfig
from atelier.core.auth import Principal
from atelier.core.events import Subscription
from atelier.core.manager import Manager
from atelier.core.runtime import Runtime
from atelier.core.spawn import SpawnRequest
from atelier.core.workspaces.install import Workspaces, install_workspaces
from atelier.db.models import Prebuild, Sandbox
from tests.fakes.vmm import FakeVmm
from tests.managerkit import fake_runtime, paths

SECRET = "very-secret-value-7f3a"
FIXTURE = Path(__file__).resolve().parents[2] / "data" / "devcontainer" / "devcontainer.json"


@dataclass
class Env:
    manager: Manager
    ws: Workspaces
    http: httpx.AsyncClient
    alice: dict[str, str]
    bob: dict[str, str]
    alice_id: str
    events: Subscription


class QemuNamedVmm(FakeVmm):
    """A fake that claims to be QEMU, so prebuild memory snapshots count as usable."""

    name = "qemu"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    config = AtelierConfig(paths=paths(tmp_path), vmm={"boot_timeout_s": 1})
    runtime = fake_runtime(config)
    runtime = dataclasses.replace(runtime, vmm=QemuNamedVmm(config.paths.run_dir))
    manager = Manager(config, runtime=runtime)
    ws = install_workspaces(manager, None)
    app = create_app(manager, manage_lifecycle=False)
    await manager.start()
    events = manager.bus.subscribe()
    try:
        headers = {}
        ids = {}
        for name in ("alice", "bob"):
            user = await manager.auth.create_user(name)
            _view, raw = await manager.auth.create_token(user.id, "cli")
            headers[name], ids[name] = {"Authorization": f"Bearer {raw}"}, user.id
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://m") as http:
            yield Env(manager, ws, http, headers["alice"], headers["bob"], ids["alice"], events)
    finally:
        events.close()
        await manager.stop()


def definition(**extra: Any) -> dict[str, Any]:
    return {
        "name": "shop",
        "image": "minimal",
        "resources": {"vcpus": 1, "memoryMb": 512, "diskGb": 4},
        "dev": [{"name": "web", "command": "python3 -m http.server 8000", "port": 8000}],
        "secrets": {"env": ["API_KEY"], "files": [{"name": "npmrc", "path": "~/.npmrc"}]},
        "prebuild": {"auto": False},
        **extra,
    }


def drained(events: Subscription) -> str:
    seen = []
    while not events._queue.empty():
        seen.append(json.dumps(events._queue.get_nowait().to_dict()))
    return "\n".join(seen)


async def test_crud_with_write_only_secrets(env: Env) -> None:
    body = {"definition": definition(), "secretValues": {"API_KEY": SECRET}}
    created = await env.http.post("/api/workspaces", json=body, headers=env.alice)
    assert created.status_code == 201, created.text
    ws = created.json()
    assert SECRET not in created.text
    assert ws["secrets"] == [
        {"name": "API_KEY", "kind": "env", "set": True, "path": None},
        {"name": "npmrc", "kind": "file", "set": False, "path": "/home/dev/.npmrc"},
    ]
    assert ws["prebuild"]["status"] == "none" and ws["sandboxes"] == 0
    by_name = await env.http.get("/api/workspaces/shop", headers=env.alice)
    assert by_name.json()["id"] == ws["id"]
    assert (await env.http.get(f"/api/workspaces/{ws['id']}", headers=env.bob)).status_code == 404
    assert (await env.http.get("/api/workspaces", headers=env.bob)).json() == []

    put = await env.http.put(f"/api/workspaces/{ws['id']}/secrets/npmrc", json={"value": SECRET + "2"},
                             headers=env.alice)  # fmt: skip
    assert put.status_code == 204
    undeclared = await env.http.put(f"/api/workspaces/{ws['id']}/secrets/OTHER", json={"value": "x"},
                                    headers=env.alice)  # fmt: skip
    assert undeclared.status_code == 400 and undeclared.json()["field"] == "name"
    secrets = (await env.http.get(f"/api/workspaces/{ws['id']}/secrets", headers=env.alice)).json()
    assert [s["set"] for s in secrets] == [True, True]

    # Dropping a declaration deletes its value.
    changed = definition(secrets={"env": ["API_KEY"]})
    replaced = await env.http.put(f"/api/workspaces/{ws['id']}", json=changed, headers=env.alice)
    assert [s["name"] for s in replaced.json()["secrets"]] == ["API_KEY"]
    assert await env.ws.workspaces.secret_values(ws["id"]) == {"API_KEY": SECRET}

    listed = await env.http.get("/api/workspaces", headers=env.alice)
    assert SECRET not in listed.text
    assert SECRET not in drained(env.events)
    db = env.manager.config.paths.data_dir
    for name in ("atelier.db", "atelier.db-wal"):
        if (db / name).exists():
            assert SECRET.encode() not in (db / name).read_bytes(), name

    assert (
        await env.http.delete(f"/api/workspaces/{ws['id']}", headers=env.bob)
    ).status_code == 404
    assert (
        await env.http.delete(f"/api/workspaces/{ws['id']}", headers=env.alice)
    ).status_code == 204


async def test_validation_names_fields_and_host_facts(env: Env) -> None:
    bad = definition(image="no-such-image", ports=[22], repos=[{"url": "https://github.com/a/b.git",
                                                                "source": "missing"}])  # fmt: skip
    checked = await env.http.post("/api/workspaces/validate", json=bad, headers=env.alice)
    problems = {p["field"]: p["message"] for p in checked.json()["problems"]}
    assert checked.json()["ok"] is False
    assert "sshd" in problems["ports[0]"]
    created = await env.http.post("/api/workspaces", json=bad, headers=env.alice)
    assert created.status_code == 400 and created.json()["error"] == "workspace_invalid"
    assert {p["field"] for p in created.json()["problems"]} == {"ports[0]"}
    fixed = definition(
        image="no-such-image", repos=[{"url": "https://github.com/a/b.git", "source": "missing"}]
    )
    created = await env.http.post("/api/workspaces", json=fixed, headers=env.alice)
    fields = {p["field"] for p in created.json()["problems"]}
    assert fields == {"image", "repos[0].source"}, created.text


async def test_git_sources_never_show_their_secret(env: Env) -> None:
    body = {"name": "gh", "kind": "github", "secret": "ghp_" + SECRET}
    added = await env.http.post("/api/git-sources", json=body, headers=env.alice)
    assert added.status_code == 201 and SECRET not in added.text
    assert added.json()["host"] == "github.com"
    listed = await env.http.get("/api/git-sources", headers=env.alice)
    assert [s["name"] for s in listed.json()] == ["gh"] and SECRET not in listed.text
    assert (await env.http.get("/api/git-sources", headers=env.bob)).json() == []
    repo = [{"url": "https://github.com/acme/private.git", "source": "gh"}]
    made = await env.http.post("/api/workspaces", json=definition(repos=repo), headers=env.alice)
    assert made.status_code == 201, made.text
    elsewhere = [{"url": "https://gitlab.com/acme/private.git", "source": "gh"}]
    refused = await env.http.post("/api/workspaces", json=definition(name="x", repos=elsewhere),
                                  headers=env.alice)  # fmt: skip
    assert refused.status_code == 400 and "github.com" in refused.text
    credential = await env.ws.sources.credential(env.alice_id, "gh")
    assert credential is not None and credential.secret == "ghp_" + SECRET
    assert SECRET not in drained(env.events)


async def test_devcontainer_import_names_what_did_not_map(env: Env) -> None:
    response = await env.http.post("/api/workspaces/import/devcontainer",
                                   json={"text": FIXTURE.read_text()}, headers=env.alice)  # fmt: skip
    found = response.json()
    assert "features" in found["unmapped"] and "forwardPorts[1]" in found["unmapped"]
    assert found["definition"]["ports"] == [3000, 9229]


async def test_planning_picks_memory_disk_or_cold(env: Env) -> None:
    alice = Principal(env.alice_id, "alice", "member")
    record = await env.ws.workspaces.create(alice, definition())
    row = Sandbox(id="abcdefgh", owner_id=env.alice_id, workspace_id=record.id, image="minimal",
                  vcpus=1, memory_mb=512, disk_gb=4, status="creating", members=[])  # fmt: skip
    request = SpawnRequest("abcdefgh", "minimal", 1, 512, 4, "sandbox-abcdefgh")
    cold = await env.ws.spawns.plan(row, request, fresh=True)
    assert cold.source_volume is None and cold.restore is None and cold.guest_ports == (8000,)
    state = env.manager.config.paths.data_dir / "mem.state"
    state.write_bytes(b"x")
    async with env.manager.db.session() as session:
        session.add(Prebuild(
            id="pppppppp", workspace_id=record.id, status="ready", trigger="manual", digest="d",
            image="minimal", vcpus=1, memory_mb=512, disk_gb=4, disk_volume="atl-pre-pppppppp",
            memory_volume="atl-pre-mmmmmmmm", memory_state=str(state),
            memory_token=env.ws.prebuilds.box.encrypt("old-token-0123456789"), vmm="qemu",
            network=None,
        ))  # fmt: skip
    memory = await env.ws.spawns.plan(row, request, fresh=True)
    assert memory.source_volume == "atl-pre-mmmmmmmm" and memory.restore is not None
    assert memory.restore.token == "old-token-0123456789" and memory.restore.new_identity
    row.memory_mb = 1024  # the memory snapshot needs the same machine; the disk does not
    disk = await env.ws.spawns.plan(row, request, fresh=True)
    assert disk.source_volume == "atl-pre-pppppppp" and disk.restore is None
    origins = await env.ws.workspaces.origins(alice, record.id)
    assert origins[0]["mode"] == "disk"
    row.memory_mb = 512
    restart = await env.ws.spawns.plan(row, request, fresh=False)
    assert restart.source_volume is None and restart.guest_ports == (8000,)


async def test_a_failed_build_keeps_the_last_good_prebuild(env: Env) -> None:
    alice = Principal(env.alice_id, "alice", "member")
    record = await env.ws.workspaces.create(alice, definition(init=["true"]))
    async with env.manager.db.session() as session:
        session.add(Prebuild(id="goodgood", workspace_id=record.id, status="ready", trigger="manual",
                             digest="d", image="minimal", vcpus=1, memory_mb=512, disk_gb=4,
                             disk_volume="atl-pre-goodgood"))  # fmt: skip
    queued = await env.ws.prebuilds.request(record.id, "manual")
    again = await env.ws.prebuilds.request(record.id, "manual")
    assert again.id == queued.id  # one build per workspace at a time
    await env.ws.prebuilds.wait(queued.id, 60)
    failed = await env.ws.prebuilds.get(alice, record.id, queued.id)
    assert failed.status == "failed" and failed.error, failed
    assert [s["name"] for s in failed.steps][:1] == ["boot build VM"]
    current = await env.ws.prebuilds.current(record.id)
    assert current is not None and current.id == "goodgood"
    state = await env.ws.prebuilds.state(record.id)
    assert (state.status, state.ready_id) == ("failed", "goodgood")
    runtime = env.manager.runtime
    assert isinstance(runtime, Runtime)
    names = {v.name for v in await runtime.storage.list()}
    assert not any(n.startswith("atl-sbx-") for n in names), names  # rolled back
    text, _, done = await env.ws.prebuilds.logs(alice, record.id, queued.id)
    assert "prebuild failed" in text and done


async def test_superseded_prebuilds_are_retired_after_the_grace_period(env: Env) -> None:
    from datetime import timedelta

    from atelier.core.prebuilds.upkeep import retire
    from atelier.db.types import utcnow

    alice = Principal(env.alice_id, "alice", "member")
    record = await env.ws.workspaces.create(alice, definition())
    old_state = env.manager.config.paths.data_dir / "old.state"
    new_state = env.manager.config.paths.data_dir / "new.state"
    for path in (old_state, new_state):
        path.write_bytes(b"x")
    async with env.manager.db.session() as session:
        for pid, when, state in (("oldoldol", 600, old_state), ("newnewne", 10, new_state)):
            session.add(Prebuild(
                id=pid, workspace_id=record.id, status="superseded", trigger="manual", digest="d",
                image="minimal", vcpus=1, memory_mb=512, disk_gb=4, memory_state=str(state),
                disk_volume=f"atl-pre-{pid}", finished_at=utcnow() - timedelta(seconds=when),
            ))  # fmt: skip
    assert await retire(env.ws.prebuilds, 120) == ["oldoldol"]
    assert not old_state.exists() and new_state.exists()
    views = {v.id: v for v in await env.ws.prebuilds.list(alice, record.id)}
    assert views["oldoldol"].memory_snapshot is False
