"""The dashboard in Debian's Chromium against a running manager with real sandboxes.

One manager and one sandbox are shared by the module (real VM boots are slow under TCG;
without QEMU and images the manager runs in mock mode and the terminal test is skipped):
the sandbox is created through the UI in `test_create_sandbox_live`, used by the terminal
and touch tests, and destroyed by the last one (or by the stack's teardown). Tasks,
attention, templates, workspaces and dev commands come from the in-memory fakes until the
services exist; swap them for the real sources here once they do. Screenshots of every page
(desktop and phone) go to the test's artifact directory.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from atelier.core.auth import Principal
from tests.fakes.web_sources import (
    FakeAttention,
    FakeDevCommands,
    FakeTasks,
    FakeTemplates,
    FakeWorkspaces,
    sample_question,
)
from tests.integration.web.harness import (
    Stack,
    answer_permission,
    expect_attention,
    real_runtime_missing,
    signed_in,
)

pytestmark = [pytest.mark.browser]
BOOT_MS = 180_000
needs_vm = pytest.mark.skipif(
    real_runtime_missing() is not None, reason=str(real_runtime_missing())
)

_sandbox: dict[str, str] = {}


def _fakes(stack: Stack) -> FakeAttention:
    sources = stack.dashboard.sources
    if sources.attention is None:
        sources.attention = FakeAttention(stack.manager.bus)
        sources.tasks = FakeTasks(stack.manager.bus)
        sources.templates = FakeTemplates()
        sources.workspaces = FakeWorkspaces()
        sources.dev_commands = FakeDevCommands()
    assert isinstance(sources.attention, FakeAttention)
    return sources.attention


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
        _sandbox["id"] = sandbox_id
        await card.get_by_text("Memory").wait_for(timeout=30_000)  # lazily loaded metrics
        await page.screenshot(path=shots / "sandbox-running-desktop.png", full_page=True)
    finally:
        await context.close()


@needs_vm
@pytest.mark.vm
async def test_terminal_runs_echo(browser: Any, stack: Stack, shots: Path) -> None:
    if "id" not in _sandbox:
        pytest.skip("test_create_sandbox_live did not leave a running sandbox")
    context, page = await signed_in(browser, stack)
    try:
        await page.goto(f"/sandboxes/{_sandbox['id']}")
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


async def test_attention_arrives_and_is_answered(browser: Any, stack: Stack, shots: Path) -> None:
    attention = _fakes(stack)
    context, page = await signed_in(browser, stack)
    try:
        await page.get_by_role("heading", name="Needs attention").wait_for()
        await page.get_by_text("All clear").wait_for()
        await page.evaluate("window.__notReloaded = true")
        attention.add("bash: rm -rf build", detail="rm -rf build && npm run build", task_id=None)
        await expect_attention(page, "bash: rm -rf build")
        await page.locator("#attention-count", has_text="1").wait_for()
        await page.screenshot(path=shots / "attention-desktop.png", full_page=True)
        await answer_permission(page, "bash: rm -rf build", "Allow once")
        assert attention.answers[-1][2].reply == "once"
        attention.add("Pick a database", kind="question", questions=sample_question())
        card = await expect_attention(page, "Pick a database")
        await card.get_by_label("PostgreSQL").check()
        await card.get_by_role("button", name="Send answer").click()
        await card.wait_for(state="detached")
        assert attention.answers[-1][2].answers == (("PostgreSQL",),)
        assert await page.evaluate("window.__notReloaded") is True
    finally:
        await context.close()


async def test_connection_loss_shows_a_banner_and_reconnects(browser: Any, stack: Stack) -> None:
    attention = _fakes(stack)
    context, page = await signed_in(browser, stack)
    try:
        banner = page.locator("#live-banner")
        await page.evaluate(
            "() => { window.__banner = false; new MutationObserver(() => {"
            " if (!document.getElementById('live-banner').hidden) window.__banner = true; })"
            ".observe(document.getElementById('live-banner'), {attributes: true}); }"
        )
        await stack.server.bounce()
        await page.wait_for_function("() => window.__banner === true", timeout=20_000)
        await banner.wait_for(state="hidden", timeout=30_000)
        attention.add("after reconnect")
        await expect_attention(page, "after reconnect")
        attention.items.clear()
    finally:
        await context.close()


async def test_tasks_board(browser: Any, stack: Stack, shots: Path) -> None:
    _fakes(stack)
    context, page = await signed_in(browser, stack)
    try:
        await page.goto("/tasks?view=board")
        await page.get_by_text("New task").click()
        await page.get_by_label("Title").fill("Add a health endpoint")
        await page.get_by_label("Description").fill("GET /health returns 200")
        await page.get_by_role("button", name="Create task").click()
        await page.wait_for_url(re.compile(r".*/tasks/task\d+$"))
        await page.goto("/tasks?view=board")
        draft = page.locator('[data-column="draft"]')
        card = draft.locator("article", has_text="Add a health endpoint")
        await card.wait_for()
        await card.get_by_role("button", name="Start").click()
        active = page.locator('[data-column="active"] article', has_text="Add a health endpoint")
        await active.wait_for()
        await active.get_by_text("Working on: write the tests").wait_for()
        await page.screenshot(path=shots / "tasks-board-desktop.png", full_page=True)
        await active.get_by_role("button", name="Done").click()
        await page.locator(
            '[data-column="done"] article', has_text="Add a health endpoint"
        ).wait_for()
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
    ("workspace", "/workspaces/ws1"),
    ("templates", "/templates"),
    ("images", "/images"),
    ("system", "/system"),
    ("settings", "/settings"),
]


async def test_screenshots_of_every_page(browser: Any, stack: Stack, shots: Path) -> None:
    attention = _fakes(stack)
    tasks = stack.dashboard.sources.tasks
    assert isinstance(tasks, FakeTasks)
    viewer = Principal("x", stack.admin, "admin")
    from atelier.web.sources import TaskDraft

    task = await tasks.create(
        viewer, TaskDraft("Fix login redirect", "It loops.", "ws1", start=True)
    )
    attention.add(
        "edit src/auth.py", detail="+ return redirect(next)", task_id=task.id, task_title=task.title
    )
    pages = [*PAGES, ("task", f"/tasks/{task.id}")]
    if "id" in _sandbox:
        pages.append(("sandbox", f"/sandboxes/{_sandbox['id']}"))
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
    attention.items.clear()


@pytest.mark.vm
async def test_sandbox_actions_by_touch(browser: Any, stack: Stack, shots: Path) -> None:
    if "id" not in _sandbox:
        pytest.skip("test_create_sandbox_live did not leave a running sandbox")
    sandbox_id = _sandbox["id"]
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
        _sandbox.pop("id")
    finally:
        await context.close()
