"""The manager's monitors, attention feed and tracker against the real OpenCode (host process).

The sandbox exists only in the manager's database (no VM): OpenCode runs on the host with
the scripted model, and the launcher tells the manager where. A task's session asks
permission to run a command: the request appears in the attention feed with the command
and its task, goes to the webhook, is answered "allow once" through the service, and the
task, its todos done, moves to `review` by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from atelier.config import AtelierConfig
from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.core.tasks.system import TaskSystem, install_tasks
from atelier.db.models import Sandbox, SandboxOpencode, Task, TaskSession
from atelier.db.types import utcnow
from atelier.runtime.opencode import ModelRef, OpencodeConfig, Prompt
from tests.fakes.llm_server import ScriptedModel, Turn, bash, provider_config, serve_model, todos
from tests.fakes.opencode_launcher import HostLauncher
from tests.managerkit import fake_runtime, paths
from tests.opencodekit import HostOpencode, host_opencode

pytestmark = pytest.mark.slow
SANDBOX = "hostsbx1"


@pytest.fixture
def scripted() -> Iterator[tuple[ScriptedModel, str]]:
    model = ScriptedModel()
    with serve_model(model) as (host, port):
        yield model, f"http://{host}:{port}/v1"


@pytest.fixture
async def server(
    tmp_path: Path, scripted: tuple[ScriptedModel, str]
) -> AsyncIterator[HostOpencode]:
    config = provider_config(scripted[1]) | {"permission": {"bash": "ask"}}
    async with host_opencode(tmp_path / "oc", config, password="pw") as running:
        yield running


@pytest.fixture
async def system(
    tmp_path: Path, server: HostOpencode
) -> AsyncIterator[tuple[TaskSystem, list[dict[str, object]]]]:
    hooks: list[dict[str, object]] = []

    def receive(request: httpx.Request) -> httpx.Response:
        import json

        hooks.append(json.loads(request.content))
        return httpx.Response(204)

    config = AtelierConfig(
        paths=paths(tmp_path / "m"),
        opencode=OpencodeConfig(webhook_url="https://hooks.example/x", resync_interval_s=5),
    )
    manager = Manager(config, runtime=fake_runtime(config))
    tasks = install_tasks(
        manager,
        launcher=HostLauncher({SANDBOX: server}),
        webhook_transport=httpx.MockTransport(receive),
    )
    await manager.start()
    try:
        yield tasks, hooks
    finally:
        await manager.stop()


async def _alice(manager: Manager) -> Principal:
    user = await manager.auth.create_user("alice")
    async with manager.db.session() as session:
        session.add(
            Sandbox(
                id=SANDBOX, owner_id=user.id, image="minimal", vcpus=1, memory_mb=512,
                disk_gb=4, status="running", members=[],
            )
        )  # fmt: skip
        session.add(
            SandboxOpencode(
                sandbox_id=SANDBOX, password=manager.secrets.encrypt("pw"), state="ready"
            )
        )
    return Principal(user.id, user.username, user.role)


async def test_attention_and_review_through_the_manager(
    system: tuple[TaskSystem, list[dict[str, object]]],
    server: HostOpencode,
    scripted: tuple[ScriptedModel, str],
) -> None:
    tasks, hooks = system
    manager = tasks.manager
    alice = await _alice(manager)
    scripted[0].scripts["hosted"] = [
        Turn(tools=(todos(("look", "in_progress"), ("list", "pending")),)),
        Turn(tools=(bash("ls -a > listing.txt", "list the files"),)),
        Turn(tools=(todos(("look", "completed"), ("list", "completed")),)),
    ]
    admin = Principal("root", "root", "admin")
    scripted_effort = {"efforts": [{"name": "standard", "model": "scripted/scripted"}]}
    await tasks.catalog.save(admin, "simplification", scripted_effort, None)
    client = server.client(timeout=60)
    directory = str(server.workdir)
    session = await client.create_session("hosted", directory)
    async with manager.db.session() as db:
        db.add(
            Task(
                id="taskhost", owner_id=alice.user_id, title="List files", prompt="list",
                template_id="implement", status="running", sandbox_id=SANDBOX,
                directory=directory, started_at=utcnow(),
                sessions=[TaskSession(position=0, role="main", template_id="implement",
                                      session_id=session.id, prompted_at=utcnow()),
                          TaskSession(position=1, role="review", template_id="simplification",
                                      launch="after_main")],
            )
        )  # fmt: skip
    await tasks.hub.watch(SANDBOX)
    await client.prompt(
        session.id, Prompt("[script:hosted] go", ModelRef("scripted", "scripted")), directory
    )

    item = None
    for _ in range(600):
        items = await tasks.attention.pending(alice)
        if items and items[0].task_id:
            item = items[0]
            break
        await asyncio.sleep(0.2)
    assert item is not None, "no attention item"
    assert item.kind == "permission" and item.detail == "ls -a > listing.txt"
    assert item.task_id == "taskhost" and item.sandbox_id == SANDBOX
    await tasks.attention.answer(alice, item.id, "once")

    for _ in range(900):
        view = await tasks.tasks.get(alice, "taskhost")
        if view.status == "review":
            break
        await asyncio.sleep(0.2)
    assert view.status == "review", view.progress
    assert view.progress is not None
    # The review waited for the main session, then ran; the task settled after both.
    assert all(s.prompted_at for s in view.sessions) and len(view.progress["sessions"]) == 2
    prompts = scripted[0].requests
    assert any("simplif" in str(r.body.get("messages")).lower() for r in prompts)
    assert view.progress["todos"]["done"] == 2 and view.progress["todos"]["total"] == 2
    assert (server.workdir / "listing.txt").exists()
    assert await tasks.attention.pending(alice) == []
    for _ in range(100):
        if any(h["event"] == "attention.created" for h in hooks):
            break
        await asyncio.sleep(0.1)
    created = [h for h in hooks if h["event"] == "attention.created"]
    assert created and created[0]["data"]["detail"] == "ls -a > listing.txt"  # type: ignore[index]  # JSON
    assert any(h["event"] == "task.status" and h["data"]["status"] == "review" for h in hooks)  # type: ignore[index]  # JSON
    await client.aclose()
