"""A manager with the dashboard served by uvicorn on a loopback port, for browser tests.

`dashboard_stack(tmp, opencode=...)` starts a Manager assembled like `atelier serve` builds
it for the parts these tests use: the workspace subsystem (workspaces, prebuilds, dev
commands, git sources), AI tasks and the dashboard over `dashboard_sources` (the real
sources; no proxy, SSH gateway or package caches). It uses real drivers when this host can
boot sandboxes (QEMU, the `minimal` image and a guest kernel: copy storage in `tmp`, user
networking), otherwise mock mode (sandboxes are agent processes on the host: they run, but
have no `dev` user for a terminal). With `opencode` (a global opencode.json, normally the
scripted model's) each sandbox a task creates gets a real OpenCode as a host process
(`SpawningHostLauncher`); other sandboxes have none. Everything runs in the caller's event
loop; everything started is stopped, and every sandbox destroyed, also when the test fails.

`launch_chromium(p)` starts Debian's Chromium the same way for every browser test.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.api.app import create_app
from atelier.config import AtelierConfig
from atelier.core.manager import Manager
from atelier.core.tasks.system import install_tasks
from atelier.core.tasks.workspace_adapter import WorkspaceAdapter
from atelier.core.workspaces.install import install_workspaces
from atelier.web.dashboard import Dashboard, install_dashboard
from atelier.web.wiring import dashboard_sources
from tests.fakes.opencode_launcher import SpawningHostLauncher
from tests.managerkit import HOST_IMAGES, paths
from tests.unit.web.loopback import LoopbackServer, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def browser_missing() -> str | None:
    """Why browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return "needs Debian's chromium (/usr/bin/chromium)"
    return None


def real_runtime_missing() -> str | None:
    """Why this host cannot boot real sandboxes for the dashboard tests, or None."""
    if shutil.which("qemu-system-x86_64") is None:
        return "needs qemu-system-x86 to boot sandboxes"
    if not (HOST_IMAGES / "minimal" / "rootfs.ext4").exists():
        return f"needs the minimal image in {HOST_IMAGES} (atelier images build minimal)"
    if not any((HOST_IMAGES / "kernels").glob("*/vmlinux")):
        return f"needs a guest kernel in {HOST_IMAGES}/kernels"
    return None


@dataclass
class Stack:
    """A running manager + dashboard on http://127.0.0.1:<port>."""

    manager: Manager
    dashboard: Dashboard
    url: str
    real: bool
    server: LoopbackServer
    admin_id: str
    launcher: SpawningHostLauncher | None = None
    admin: str = "alice"
    password: str = PASSWORD


def _config(tmp: Path, real: bool, port: int) -> AtelierConfig:
    settings: dict[str, Any] = {
        "paths": paths(tmp),
        "server": {"host": "127.0.0.1", "port": port, "mode": "normal" if real else "mock"},
        "web": {"push_hosts": ["127.0.0.1"]},
    }
    if real:
        settings["storage"] = {"driver": "copy"}
        settings["network"] = {"driver": "user"}
        settings["sandbox"] = {"disk_gb": 4, "memory_mb": 512}
    return AtelierConfig(**settings)


def task_sandboxes(manager: Manager) -> Callable[[str], Awaitable[bool]]:
    """Whether a sandbox was made by a task (named `task-<id>` by the task runner)."""

    async def made_by_task(sandbox_id: str) -> bool:
        row = await manager.sandboxes.lookup(sandbox_id)
        return row is not None and (row.name or "").startswith("task-")

    return made_by_task


@contextlib.asynccontextmanager
async def dashboard_stack(
    tmp: Path, *, opencode: dict[str, Any] | None = None, real: bool | None = None
) -> AsyncIterator[Stack]:
    """The manager and dashboard, served until the block exits."""
    use_real = real_runtime_missing() is None if real is None else real
    port = free_port()
    config = _config(tmp, use_real, port)
    manager = Manager(config)
    launcher = None
    if opencode is not None and use_real:
        launcher = SpawningHostLauncher(tmp / "opencode", opencode, task_sandboxes(manager))
    workspaces = install_workspaces(manager, None)
    install_tasks(manager, workspaces=WorkspaceAdapter(workspaces), launcher=launcher)
    dashboard = install_dashboard(manager, sources=dashboard_sources(manager))
    server = LoopbackServer(create_app(manager, manage_lifecycle=False), port)
    try:
        await manager.start()
        try:
            await server.start()
            admin = await manager.auth.create_user("alice", role="admin", password=PASSWORD)
            url = f"http://127.0.0.1:{port}"
            yield Stack(manager, dashboard, url, use_real, server, admin.id, launcher)
        finally:
            await server.stop()
            await _destroy_all(manager)
            await manager.stop()
    finally:
        if launcher is not None:
            await launcher.close()


async def _destroy_all(manager: Manager) -> None:
    from atelier.core.auth import Principal

    root = Principal("system", "system", "admin")
    with contextlib.suppress(Exception):
        for view in await manager.sandboxes.list_visible(root):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(manager.sandboxes.destroy(root, view.id), 60)


async def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless."""
    return await playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


async def signed_in(
    browser: Any, stack: Stack, *, phone: bool = False, dark: bool = False
) -> tuple[Any, Any]:
    """A new browser context and page, signed in through the login form."""
    options: dict[str, Any] = {
        "viewport": PHONE if phone else DESKTOP,
        "base_url": stack.url,
        "color_scheme": "dark" if dark else "light",
    }
    if phone:
        options |= {"is_mobile": True, "has_touch": True, "device_scale_factor": 2}
    context = await browser.new_context(**options)
    # Generous: these tests share two cores with VM boots and other builds.
    context.set_default_timeout(60_000)
    context.set_default_navigation_timeout(60_000)
    page = await context.new_page()
    await page.goto("/login")
    await page.fill("#username", stack.admin)
    await page.fill("#password", stack.password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{stack.url}/")
    return context, page


async def expect_attention(page: Any, title: str, timeout_ms: float = 15_000) -> Any:
    """The attention card titled `title`, once it has arrived on the open page."""
    card = page.locator("article.attention-box", has_text=title)
    await card.wait_for(state="visible", timeout=timeout_ms)
    return card


async def answer_permission(page: Any, title: str, reply: str = "Allow once") -> None:
    """Press `reply` on the attention card titled `title` and wait until it is gone."""
    card = await expect_attention(page, title)
    await card.get_by_role("button", name=reply).click()
    await card.wait_for(state="detached", timeout=15_000)
