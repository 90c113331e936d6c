"""Pages and actions, with the in-memory sources and without them."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from atelier.core.auth import Principal
from atelier.runtime.images.config import ImagesConfig
from atelier.web.sources import Sources
from tests.fakes.web_sources import (
    FakeAttention,
    FakeDevCommands,
    FakeTasks,
    FakeTemplates,
    FakeWorkspaces,
    sample_question,
)
from tests.unit.runtime.images.factories import built_image
from tests.unit.web.conftest import Web, sign_in, start_web

PAGES = [
    "/",
    "/tasks",
    "/tasks?view=board",
    "/sandboxes",
    "/workspaces",
    "/templates",
    "/images",
    "/system",
    "/settings",
]


def _with_fakes(web: Web) -> Sources:
    sources = web.dashboard.sources
    bus = web.manager.bus
    sources.attention = FakeAttention(bus)
    sources.tasks = FakeTasks(bus)
    sources.templates = FakeTemplates()
    sources.workspaces = FakeWorkspaces()
    sources.dev_commands = FakeDevCommands()
    return sources


async def test_pages_say_what_is_not_available_yet(web: Web) -> None:
    async with web.client() as client:
        await sign_in(client)
        for path in PAGES:
            page = await client.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-security-policy"].startswith("default-src 'self'")
            assert page.headers["x-frame-options"] == "DENY"
        assert "Tasks are not available on this manager yet" in (await client.get("/tasks")).text
        assert "Workspaces are not available" in (await client.get("/workspaces")).text
        home = (await client.get("/")).text
        assert "Attention items are not available" in home
        assert "Create sandbox" in home  # start working falls back to a sandbox
        settings = (await client.get("/settings")).text
        assert "OpenCode configuration is not available" in settings
        assert "Git sources are not available" in settings
        missing = await client.get("/tasks/task1")
        assert missing.status_code == 400
        assert "not available on this manager yet" in missing.text


async def test_pages_render_source_data(web: Web) -> None:
    sources = _with_fakes(web)
    assert isinstance(sources.attention, FakeAttention)
    sources.attention.add("bash: make test", detail="make test")
    sources.attention.add("Pick one", kind="question", questions=sample_question())
    async with web.client() as client:
        csrf = await sign_in(client)
        created = await client.post(
            "/tasks",
            data={
                "csrf": csrf,
                "title": "Ship it",
                "description": "do it",
                "workspace_id": "ws1",
                "start": "true",
            },
        )
        assert created.status_code == 303
        task_path = created.headers["location"]
        for path in [*PAGES, task_path, "/workspaces/ws1", "/workspaces/new"]:
            page = await client.get(path)
            assert page.status_code == 200, (path, page.text[:300])
        home = (await client.get("/")).text
        assert "bash: make test" in home and "PostgreSQL" in home
        assert "Ship it" in home  # active tasks
        task = (await client.get(task_path)).text
        assert "Working on: write the tests" in task
        assert "tests/test_app.py" in task
        assert "Security review" in task
        board = (await client.get("/tasks?view=board")).text
        assert 'data-column="active"' in board
        templates = (await client.get("/templates")).text
        assert "Implementation" in templates and "anthropic/opus" in templates


async def test_attention_answers(web: Web) -> None:
    sources = _with_fakes(web)
    attention = sources.attention
    assert isinstance(attention, FakeAttention)
    permission = attention.add("bash: rm -rf /tmp/x")
    question = attention.add("Pick", kind="question", questions=sample_question())
    async with web.client() as client:
        csrf = await sign_in(client)
        answer = await client.post(
            f"/attention/{permission.id}",
            data={"csrf": csrf, "reply": "reject"},
            headers={"HX-Request": "true"},
        )
        assert answer.status_code == 200
        assert answer.headers["hx-retarget"] == "#flash"
        assert "Denied" in answer.text
        answer = await client.post(
            f"/attention/{question.id}",
            data={
                "csrf": csrf,
                "reply": "answer",
                "questions": "1",
                "q0": "SQLite",
                "q0_text": "with WAL",
            },
        )
        assert answer.status_code == 303
        gone = await client.post(
            f"/attention/{question.id}",
            data={"csrf": csrf, "reply": "skip"},
            headers={"HX-Request": "true"},
        )
        assert gone.status_code == 404
        assert "answered or expired" in gone.text
        bad = await client.post(f"/attention/{question.id}", data={"csrf": csrf, "reply": "maybe"})
        assert bad.status_code == 400
    assert [(a[1], a[2].reply, a[2].answers) for a in attention.answers] == [
        (permission.id, "reject", ()),
        (question.id, "answer", (("SQLite", "with WAL"),)),
    ]


async def test_task_actions_follow_the_source_rules(web: Web) -> None:
    sources = _with_fakes(web)
    async with web.client() as client:
        csrf = await sign_in(client)
        created = await client.post("/tasks", data={"csrf": csrf, "title": "T", "description": "d"})
        task_id = created.headers["location"].rsplit("/", 1)[1]
        done = await client.post(f"/tasks/{task_id}/do/done", data={"csrf": csrf})
        assert done.status_code == 409  # a draft cannot be done
        for action in ("start", "done", "reset", "delete"):
            answer = await client.post(f"/tasks/{task_id}/do/{action}", data={"csrf": csrf})
            assert answer.status_code == 303, (action, answer.text[:300])
        assert sources.tasks is not None
        assert await sources.tasks.tasks(await _alice(web)) == []


async def _alice(web: Web) -> Principal:
    user = await web.manager.auth.get_user("alice")
    return Principal(user.id, user.username, user.role)


async def test_workspace_editor_validates_and_keeps_secrets_write_only(web: Web) -> None:
    sources = _with_fakes(web)
    workspaces = sources.workspaces
    assert isinstance(workspaces, FakeWorkspaces)
    async with web.client() as client:
        csrf = await sign_in(client)
        problems = await client.post(
            "/ui/workspaces/validate", data={"csrf": csrf, "definition": "name: x\n"}
        )
        assert "an image is required" in problems.text and "line 1" in problems.text
        fine = await client.post(
            "/ui/workspaces/validate", data={"csrf": csrf, "definition": "image: minimal\n"}
        )
        assert "The definition is valid" in fine.text
        refused = await client.post("/workspaces/ws1", data={"csrf": csrf, "definition": "name: x"})
        assert refused.status_code == 400
        saved = await client.post(
            "/workspaces/ws1", data={"csrf": csrf, "definition": "name: y\nimage: minimal\n"}
        )
        assert saved.status_code == 303
        stored = await client.post(
            "/workspaces/ws1/secrets",
            data={"csrf": csrf, "name": "NPM_TOKEN", "value": "s3cr3t-value"},
        )
        assert stored.status_code == 303
        page = (await client.get("/workspaces/ws1")).text
        assert "NPM_TOKEN" in page and "s3cr3t-value" not in page
        assert workspaces.secrets == {"NPM_TOKEN": "s3cr3t-value"}
        bad = await client.post(
            "/workspaces/ws1/secrets", data={"csrf": csrf, "name": "bad name", "value": "v"}
        )
        assert bad.status_code == 400
        await client.post(
            "/workspaces/ws1/secrets", data={"csrf": csrf, "name": "NPM_TOKEN", "delete": "true"}
        )
        assert workspaces.secrets == {}
        await client.post("/workspaces/ws1/rebuild", data={"csrf": csrf})
        assert workspaces.rebuilds == 1


async def test_sandbox_create_and_destroy(web: Web) -> None:
    async with web.client() as client:
        csrf = await sign_in(client)
        refused = await client.post("/sandboxes", data={"csrf": csrf, "name": "-bad"})
        assert refused.status_code == 400
        assert "name" in refused.text
        created = await client.post(
            "/sandboxes", data={"csrf": csrf, "name": "one"}, headers={"HX-Request": "true"}
        )
        assert created.status_code == 200
        assert "is queued" in created.text
        listing = (await client.get("/ui/frag/sandboxes")).text
        sandbox_id = re.search(r'id="sandbox-([a-z0-9]+)"', listing)
        assert sandbox_id is not None
        detail = await client.get(f"/sandboxes/{sandbox_id.group(1)}")
        assert detail.status_code == 200 and "data-terminal" in detail.text
        for _ in range(200):  # the fake VMM has no agent: the spawn fails at that step
            head = (await client.get(f"/ui/frag/sandboxes/{sandbox_id.group(1)}/head")).text
            if 'data-sandbox-status="error"' in head:
                break
            await asyncio.sleep(0.05)
        destroyed = await client.post(
            f"/sandboxes/{sandbox_id.group(1)}/do/destroy", data={"csrf": csrf}
        )
        assert destroyed.status_code == 303
        assert destroyed.headers["location"] == "/sandboxes"
        unknown = await client.get("/sandboxes/nosuch12")
        assert unknown.status_code == 404
        assert "Not found" in unknown.text


async def test_other_users_sandboxes_are_invisible(web: Web) -> None:
    async with web.client() as alice, web.client() as bob:
        csrf = await sign_in(alice)
        created = await alice.post("/sandboxes", data={"csrf": csrf, "name": "mine"})
        sandbox_id = created.headers["location"].rsplit("/", 1)[1]
        bob_csrf = await sign_in(bob, "bob")
        assert (await bob.get(f"/sandboxes/{sandbox_id}")).status_code == 404
        assert sandbox_id not in (await bob.get("/sandboxes")).text
        stop = await bob.post(f"/sandboxes/{sandbox_id}/do/destroy", data={"csrf": bob_csrf})
        assert stop.status_code == 404
        await alice.post(f"/sandboxes/{sandbox_id}/members", data={"csrf": csrf, "username": "bob"})
        assert (await bob.get(f"/sandboxes/{sandbox_id}")).status_code == 200


async def test_ssh_keys_from_settings(web: Web) -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop"
    async with web.client() as client:
        csrf = await sign_in(client)
        added = await client.post("/settings/ssh-keys", data={"csrf": csrf, "public_key": key})
        assert added.status_code == 303, added.text[:300]
        page = (await client.get("/settings")).text
        assert "SHA256:" in page
        again = await client.post("/settings/ssh-keys", data={"csrf": csrf, "public_key": key})
        assert again.status_code == 409


@pytest.mark.parametrize(
    "path",
    ["/sw.js", "/manifest.webmanifest", "/ui/static/app.css", "/ui/static/vendor/htmx/htmx.min.js"],
)
async def test_public_assets(web: Web, path: str) -> None:
    async with web.client() as client:
        answer = await client.get(path)
    assert answer.status_code == 200
    if path == "/sw.js":
        assert answer.headers["service-worker-allowed"] == "/"


async def test_create_form_offers_the_default_image_first(tmp_path: Path) -> None:
    manager, _, app = await start_web(tmp_path, images=ImagesConfig(default_image="dev-base"))
    try:
        for name in ("alpha", "dev-base", "minimal"):
            if not (manager.config.paths.images / name).exists():
                built_image(manager.config, name)
        web = Web(manager, _, app)
        async with web.client() as client:
            await sign_in(client)
            page = (await client.get("/sandboxes")).text
        offered = re.findall(r'<option value="([a-z0-9-]+)">', page)
        assert offered[0] == "dev-base", offered
        assert set(offered) >= {"alpha", "dev-base", "minimal"}
    finally:
        await manager.stop()
