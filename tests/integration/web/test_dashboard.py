"""The dashboard in Debian's Chromium against a running manager with real sandboxes.

The manager runs the real services behind every page (sandboxes, workspaces, dev commands,
AI tasks, attention, templates; `atelier.web.wiring.dashboard_sources`). The tests share
one manager and build on each other in file order: a sandbox is created through the UI and
used by the terminal and touch tests; a workspace is written in the definition editor; a
task of that workspace is started from the tasks page, its sandbox boots (QEMU), its
OpenCode (a host process, talking to the scripted model server) asks permission to run a
shell command, and the request is answered on Mission control; the task's sandbox shows
the workspace's dev command; the board moves the task along. Without QEMU and images the
manager runs in mock mode and the tests that need a VM are skipped.

Fakes that remain, because no real service exists here: the model (the scripted
OpenAI-compatible server of `tests.fakes.llm_server`, as no model provider is reachable)
and where OpenCode runs (`SpawningHostLauncher`: a host `opencode serve` per task sandbox,
as the `minimal` image has no OpenCode). Screenshots of every page (desktop and phone) go
to each test's artifact directory under `test-results/`.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from atelier.core.auth import Principal
from atelier.core.tasks import TaskCreate
from atelier.core.tasks.system import TaskSystem, tasks_of
from tests.fakes.llm_server import Turn, bash, todos
from tests.integration.web.conftest import ModelServer
from tests.integration.web.harness import (
    Stack,
    answer_permission,
    expect_attention,
    real_runtime_missing,
    signed_in,
)

pytestmark = [pytest.mark.browser]
BOOT_MS = 180_000
TASK_START_S = 720.0  # a VM boot under TCG on busy cores, then OpenCode's first start
needs_vm = pytest.mark.skipif(
    real_runtime_missing() is not None, reason=str(real_runtime_missing())
)
COMMAND = "ls -a > listing.txt"
WORKSPACE = """\
name: web-app
image: minimal
resources:
  vcpus: 1
  memoryMb: 512
  diskGb: 4
dev:
  - name: ticker
    command: while true; do echo tick; sleep 2; done
    autostart: true
secrets:
  env: [API_TOKEN]
"""

_state: dict[str, str] = {}


def _alice(stack: Stack) -> Principal:
    return Principal(stack.admin_id, stack.admin, "admin")


def _tasks(stack: Stack) -> TaskSystem:
    return tasks_of(stack.manager)


async def test_login_with_local_account(browser: Any, stack: Stack, shots: Path) -> None:
    context = await browser.new_context(base_url=stack.url)
    try:
        page = await context.new_page()
        await page.goto("/sandboxes")
        assert page.url.startswith(f"{stack.url}/login?next=%2Fsandboxes")
        await page.screenshot(path=shots / "login-desktop.png")
        await page.fill("#username", stack.admin)
        await page.fill("#password", "wrong password")
        await page.click("button[type=submit]")
        await page.get_by_text("wrong username or password").wait_for()
        await page.fill("#password", stack.password)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{stack.url}/sandboxes")
        await page.get_by_role("heading", name="Sandboxes").wait_for()
        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(re.compile(r".*/login$"))
        await page.goto("/")
        assert "/login" in page.url
    finally:
        await context.close()


@pytest.mark.vm
async def test_create_sandbox_live(browser: Any, stack: Stack, shots: Path) -> None:
    context, page = await signed_in(browser, stack)
    try:
        await page.goto("/sandboxes")
        await page.evaluate("window.__notReloaded = true")
        form = page.get_by_role("form", name="Create a sandbox")
        await form.get_by_label("Name").fill("ui-one")
        await form.get_by_role("button", name="Create sandbox").click()
        card = page.locator("article.card", has_text="ui-one")
        await card.wait_for(timeout=15_000)
        await page.screenshot(path=shots / "sandbox-creating-desktop.png")
        running = page.locator('article.card[data-status="running"]', has_text="ui-one")
        await running.wait_for(timeout=BOOT_MS)
        assert await page.evaluate("window.__notReloaded") is True
        sandbox_id = (await card.get_attribute("id") or "").removeprefix("sandbox-")
        assert sandbox_id
        _state["sandbox"] = sandbox_id
        await card.get_by_text("Memory").wait_for(timeout=30_000)  # lazily loaded metrics
        await page.screenshot(path=shots / "sandbox-running-desktop.png", full_page=True)
    finally:
        await context.close()


@needs_vm
@pytest.mark.vm
async def test_terminal_runs_echo(browser: Any, stack: Stack, shots: Path) -> None:
    if "sandbox" not in _state:
        pytest.skip("test_create_sandbox_live did not leave a running sandbox")
    context, page = await signed_in(browser, stack)
    try:
        await page.goto(f"/sandboxes/{_state['sandbox']}")
        await page.locator("[data-term-state]", has_text="connected").wait_for(timeout=30_000)
        await page.locator(".xterm-rows", has_text="$").wait_for(timeout=30_000)
        await page.locator(".xterm").click()
        await page.keyboard.type("echo hi\n")
        rows = page.locator(".xterm-rows > div")
        await page.wait_for_function(
            "() => [...document.querySelectorAll('.xterm-rows > div')]"
            ".some(row => row.textContent.trim() === 'hi')",
            timeout=30_000,
        )
        assert await rows.count() > 0
        await page.screenshot(path=shots / "terminal-desktop.png", full_page=True)
        # Resize, drop the connection, and see it re-attach to the same shell.
        await page.set_viewport_size({"width": 900, "height": 700})
        await page.evaluate("window.__terminalDrop = true")
        await page.get_by_role("button", name="Disconnect").click()
        await page.locator("[data-term-state]", has_text="disconnected").wait_for()
        await page.get_by_role("button", name="Connect").click()
        await page.locator("[data-term-state]", has_text="connected").wait_for(timeout=30_000)
        await page.locator(".xterm").click()
        await page.keyboard.type("echo again-$((40+2))\n")
        await page.wait_for_function(
            "() => [...document.querySelectorAll('.xterm-rows > div')]"
            ".some(row => row.textContent.trim() === 'again-42')",
            timeout=30_000,
        )
    finally:
        await context.close()


async def test_workspace_editor(browser: Any, stack: Stack, shots: Path) -> None:
    context, page = await signed_in(browser, stack)
    try:
        await page.goto("/workspaces")
        await page.get_by_text("No workspaces yet.").wait_for()
        await page.get_by_role("link", name="New workspace").click()
        await page.wait_for_url(f"{stack.url}/workspaces/new")
        editor = page.locator("#definition")
        await editor.fill(WORKSPACE.replace("diskGb: 4", "diskGb: 4\n  gpus: 1"))
        # Validated as it is typed: the field path and its line.
        problem = page.locator("#problems li", has_text="resources.gpus")
        await problem.wait_for()
        assert "line 7" in await problem.inner_text()
        await page.screenshot(path=shots / "workspace-editor-desktop.png", full_page=True)
        await editor.fill(WORKSPACE)
        await page.get_by_text("The definition is valid.").wait_for()
        await page.get_by_role("button", name="Save").click()
        await page.wait_for_url(re.compile(r".*/workspaces/(?!new$)[a-z0-9]+$"))
        workspace_id = page.url.rsplit("/", 1)[1]
        _state["workspace"] = workspace_id
        await page.get_by_role("heading", name="web-app").wait_for()
        await page.get_by_label("Name").fill("API_TOKEN")
        await page.get_by_label("Value").fill("token-value-not-shown")
        await page.get_by_role("button", name="Save secret").click()
        await page.get_by_text("Secret API_TOKEN saved").wait_for()
        await page.reload()
        assert await page.locator(".row .mono", has_text="API_TOKEN").count() == 1
        assert "token-value-not-shown" not in await page.content()
        await page.goto("/workspaces")
        await page.locator("article.card", has_text="web-app").get_by_text("minimal").wait_for()
    finally:
        await context.close()


def _script(model: ModelServer) -> None:
    model.scripted.scripts["dash"] = [
        Turn(tools=(todos(("look around", "in_progress"), ("list the files", "pending")),)),
        Turn(tools=(bash(COMMAND, "list the files"),)),
        Turn(tools=(todos(("look around", "completed"), ("list the files", "completed")),)),
    ]


async def _use_scripted_model(stack: Stack) -> None:
    """Every effort of the built-in implementation template runs on the scripted model."""
    efforts = {"efforts": [{"name": "standard", "model": "scripted/scripted"}]}
    await _tasks(stack).catalog.save(
        _alice(stack), "implement", efforts | {"defaultEffort": "standard"}, None
    )


async def _until_attention(stack: Stack, page: Any, task_id: str) -> Any:
    """The attention card of the task's permission request, failing early if the task fails."""
    card = page.locator("article.attention-box", has_text=COMMAND)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TASK_START_S
    view = None
    while loop.time() < deadline:
        if await card.is_visible():
            return card
        view = await _tasks(stack).tasks.get(_alice(stack), task_id)
        assert view.status not in ("failed", "cancelled"), view.error
        await asyncio.sleep(2)
    raise AssertionError(f"no attention item for task {task_id}; last: {view}")


@needs_vm
@pytest.mark.vm
@pytest.mark.timeout(1200)
async def test_attention_arrives_and_is_answered(
    browser: Any, stack: Stack, model: ModelServer, shots: Path
) -> None:
    _script(model)
    await _use_scripted_model(stack)
    context, page = await signed_in(browser, stack)
    try:
        await page.goto("/tasks")
        await page.get_by_text("New task").click()
        await page.get_by_label("Title").fill("List the files")
        await page.get_by_label("Description").fill("[script:dash] List the workspace's files.")
        await page.get_by_label("Start right away").check()
        await page.get_by_role("button", name="Create task").click()
        await page.wait_for_url(re.compile(r".*/tasks/[a-z0-9]+$"))
        task_id = page.url.rsplit("/", 1)[1]
        _state["task"] = task_id

        await page.goto("/")
        await page.get_by_role("heading", name="Needs attention").wait_for()
        await page.evaluate("window.__notReloaded = true")
        card = await _until_attention(stack, page, task_id)
        assert "bash" in await card.inner_text()
        await card.get_by_role("link", name="List the files").wait_for()
        await page.locator("#attention-count", has_text="1").wait_for()
        await page.screenshot(path=shots / "attention-desktop.png", full_page=True)
        phone, phone_page = await signed_in(browser, stack, phone=True, dark=True)
        try:
            await expect_attention(phone_page, COMMAND)
            await phone_page.screenshot(path=shots / "attention-phone.png", full_page=True)
        finally:
            await phone.close()
        await answer_permission(page, COMMAND, "Allow once")
        assert await page.evaluate("window.__notReloaded") is True
        assert await _tasks(stack).attention.pending(_alice(stack)) == []

        view = await _tasks(stack).tasks.get(_alice(stack), task_id)
        assert view.sandbox_id is not None and view.workspace_id == _state.get("workspace")
        _state["task_sandbox"] = view.sandbox_id
        assert stack.launcher is not None
        workdir = stack.launcher.servers[view.sandbox_id].workdir
        for _ in range(300):  # the allowed command runs in OpenCode's working directory
            if (workdir / "listing.txt").exists():
                break
            await asyncio.sleep(0.2)
        assert (workdir / "listing.txt").exists()
    finally:
        await context.close()


@needs_vm
@pytest.mark.vm
async def test_dev_commands_of_a_workspace_sandbox(browser: Any, stack: Stack, shots: Path) -> None:
    if "task_sandbox" not in _state:
        pytest.skip("test_attention_arrives_and_is_answered did not leave a task sandbox")
    context, page = await signed_in(browser, stack)
    try:
        await page.goto(f"/sandboxes/{_state['task_sandbox']}")
        command = page.locator("details.card", has_text="ticker")
        await command.locator(".badge", has_text="running").wait_for(timeout=30_000)
        await command.locator("summary").click()
        await command.locator("pre.log", has_text="tick").wait_for(timeout=30_000)
        await page.screenshot(path=shots / "sandbox-dev-desktop.png", full_page=True)
        await command.get_by_role("button", name="Stop").click()
        await page.get_by_text("Stopped ticker").wait_for()
        stopped = page.locator("details.card", has_text="ticker")
        await stopped.locator(".badge", has_text="stopped").wait_for(timeout=30_000)
        await stopped.locator("summary").click()  # the refreshed panel starts folded
        await stopped.get_by_role("button", name="Start").click()
        await page.get_by_text("Started ticker").wait_for()
        running = page.locator("details.card", has_text="ticker")
        await running.locator(".badge", has_text="running").wait_for(timeout=30_000)
        await page.goto("/")
        servers = page.locator("section", has=page.get_by_role("heading", name="Dev servers"))
        await servers.locator("li", has_text="ticker").wait_for()
    finally:
        await context.close()


async def test_connection_loss_shows_a_banner_and_reconnects(browser: Any, stack: Stack) -> None:
    context, page = await signed_in(browser, stack)
    try:
        await page.goto("/tasks?view=board")
        banner = page.locator("#live-banner")
        await page.evaluate(
            "() => { window.__banner = false; new MutationObserver(() => {"
            " if (!document.getElementById('live-banner').hidden) window.__banner = true; })"
            ".observe(document.getElementById('live-banner'), {attributes: true}); }"
        )
        await stack.server.bounce()
        await page.wait_for_function("() => window.__banner === true", timeout=20_000)
        await banner.wait_for(state="hidden", timeout=30_000)
        made = await _tasks(stack).tasks.create(
            _alice(stack), TaskCreate("After reconnect", "nothing to do")
        )
        await page.locator('[data-column="draft"] article', has_text="After reconnect").wait_for()
        await _tasks(stack).tasks.delete(_alice(stack), made.id)
        await page.locator("article", has_text="After reconnect").wait_for(state="detached")
    finally:
        await context.close()


async def test_tasks_board(browser: Any, stack: Stack, shots: Path) -> None:
    context, page = await signed_in(browser, stack)
    try:
        await page.goto("/tasks?view=board")
        await page.get_by_text("New task").click()
        await page.get_by_label("Title").fill("Add a health endpoint")
        await page.get_by_label("Description").fill("GET /health returns 200")
        await page.get_by_role("button", name="Create task").click()
        await page.wait_for_url(re.compile(r".*/tasks/[a-z0-9]+$"))
        _state["draft"] = page.url.rsplit("/", 1)[1]
        await page.goto("/tasks?view=board")
        draft = page.locator('[data-column="draft"] article', has_text="Add a health endpoint")
        await draft.get_by_role("button", name="Start").wait_for()
        if "task" in _state:
            # The started task settles in review once its session is idle with its todos done.
            review = page.locator('[data-column="review"] article', has_text="List the files")
            await review.wait_for(timeout=300_000)
            await review.get_by_text("2/2 todos").wait_for()
            await page.screenshot(path=shots / "tasks-board-desktop.png", full_page=True)
            await review.get_by_role("button", name="Done").click()
            done = page.locator('[data-column="done"] article', has_text="List the files")
            await done.wait_for()
        else:
            await page.screenshot(path=shots / "tasks-board-desktop.png", full_page=True)
        page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await draft.get_by_role("button", name="Delete").click()
        await draft.wait_for(state="detached")
        _state.pop("draft")
    finally:
        await context.close()


async def _no_horizontal_scroll(page: Any) -> None:
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"the page scrolls sideways by {overflow} px at 390 px"


PAGES = [
    ("home", "/"),
    ("tasks", "/tasks"),
    ("tasks-board", "/tasks?view=board"),
    ("sandboxes", "/sandboxes"),
    ("workspaces", "/workspaces"),
    ("workspace-new", "/workspaces/new"),
    ("templates", "/templates"),
    ("images", "/images"),
    ("system", "/system"),
    ("settings", "/settings"),
]


async def _page_ids(stack: Stack) -> list[tuple[str, str]]:
    """Detail pages of what earlier tests made (made here when they were skipped)."""
    alice = _alice(stack)
    if "workspace" not in _state:
        workspaces = stack.dashboard.sources.workspaces
        assert workspaces is not None
        _state["workspace"] = (await workspaces.save(alice, None, WORKSPACE)).id
    if "task" not in _state:
        made = await _tasks(stack).tasks.create(alice, TaskCreate("Fix login", "It loops."))
        _state["task"] = made.id
    pages = [
        ("workspace", f"/workspaces/{_state['workspace']}"),
        ("task", f"/tasks/{_state['task']}"),
    ]
    for key in ("sandbox", "task_sandbox"):
        if key in _state:
            pages.append((key.replace("_", "-"), f"/sandboxes/{_state[key]}"))
    return pages


async def test_screenshots_of_every_page(browser: Any, stack: Stack, shots: Path) -> None:
    pages = [*PAGES, *await _page_ids(stack)]
    for phone in (False, True):
        context, page = await signed_in(browser, stack, phone=phone, dark=phone)
        try:
            for name, path in pages:
                response = await page.goto(path)
                assert response is not None and response.status == 200, (path, response)
                await page.wait_for_load_state("load")
                await page.wait_for_timeout(700)  # lazily loaded sections (metrics, git)
                kind = "phone" if phone else "desktop"
                await page.screenshot(path=shots / f"{name}-{kind}.png", full_page=True)
                if phone:
                    await _no_horizontal_scroll(page)
        finally:
            await context.close()


@pytest.mark.vm
async def test_sandbox_actions_by_touch(browser: Any, stack: Stack, shots: Path) -> None:
    if "sandbox" not in _state:
        pytest.skip("test_create_sandbox_live did not leave a running sandbox")
    sandbox_id = _state["sandbox"]
    context, page = await signed_in(browser, stack, phone=True)
    try:
        await page.goto("/sandboxes")
        card = page.locator(f"#sandbox-{sandbox_id}")
        await card.wait_for()
        await page.screenshot(path=shots / "sandboxes-phone.png", full_page=True)
        await _no_horizontal_scroll(page)
        await card.get_by_role("button", name="Stop").tap()
        await page.locator(f'#sandbox-{sandbox_id}[data-status="stopped"]').wait_for(
            timeout=BOOT_MS
        )
        await page.locator(f"#sandbox-{sandbox_id}").get_by_role("button", name="Start").tap()
        await page.locator(f'#sandbox-{sandbox_id}[data-status="running"]').wait_for(
            timeout=BOOT_MS
        )
        page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.locator(f"#sandbox-{sandbox_id}").get_by_role("button", name="Destroy").tap()
        await page.locator(f"#sandbox-{sandbox_id}").wait_for(state="detached", timeout=BOOT_MS)
        _state.pop("sandbox")
    finally:
        await context.close()
