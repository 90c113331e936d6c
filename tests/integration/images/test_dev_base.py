"""dev-base end to end: build (or reuse) the image, boot it, check its tools and services.

Checked over the agent and from the host through loopback forwards (QEMU user networking,
no other way out): code-server's health endpoint, OpenCode's API with and without its
per-sandbox password, Node 22 and the other tools, every service running, and the guest
init restarting code-server after it is killed.
"""

from __future__ import annotations

import re

import httpx
import pytest

from atelier.runtime.images.catalog import find_image
from tests.integration.images.devkit import (
    READY_S,
    SERVICES,
    DevVm,
    all_running,
    eventually,
    http_get,
    needs_qemu,
    needs_root,
    service_states,
)
from tests.vmkit import host_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.vm,
    pytest.mark.root,
    needs_root,
    needs_qemu,
    pytest.mark.timeout(3600),
]

TOOLS = {
    ("node", "--version"): r"^v22\.\d+\.\d+$",
    ("npm", "--version"): r"^10\.",
    ("bun", "--version"): r"^\d+\.\d+\.\d+$",
    ("pnpm", "--version"): r"^\d+\.\d+\.\d+$",
    ("yarn", "--version"): r"^1\.22\.",
    ("uv", "--version"): r"^uv \d+\.\d+\.\d+",
    ("python3", "--version"): r"^Python 3\.11\.",
    ("git", "--version"): r"^git version",
    ("gcc", "--version"): r"^gcc",
    ("chromium", "--version"): r"^Chromium \d+",
}


async def _healthz(dev: DevVm) -> httpx.Response | None:
    reply = await http_get(f"{dev.code_server}/healthz")
    return reply if reply.status_code == 200 else None


async def _opencode(dev: DevVm, auth: tuple[str, str] | None) -> httpx.Response | None:
    reply = await http_get(f"{dev.opencode}/global/health", auth=auth)
    return reply if reply.status_code in (200, 401) else None


async def test_dev_base_tools_services_and_restart(dev_base: DevVm) -> None:
    image = find_image(host_config(), "dev-base")
    assert image.manifest.recommended_memory_mb >= 2048
    dev, vm = dev_base, dev_base.vm
    states = await all_running(vm)
    assert {s.port for s in states.values()} >= {22, 13337, 4096, 6080}

    for argv, pattern in TOOLS.items():
        done = await vm.client.exec(list(argv), user="dev", timeout=600)
        out = (done.stdout or done.stderr).decode().strip()
        assert done.exit_code == 0, f"{argv}: {done.stderr.decode()}"
        assert re.search(pattern, out.splitlines()[0]), f"{argv} printed {out!r}"

    health = await eventually(lambda: _healthz(dev), READY_S, "code-server /healthz")
    assert "status" in health.json()

    refused = await eventually(lambda: _opencode(dev, None), READY_S, "OpenCode answering")
    assert refused.status_code == 401
    wrong = await eventually(lambda: _opencode(dev, ("opencode", "wrong")), 60, "OpenCode")
    assert wrong.status_code == 401
    ok = await eventually(lambda: _opencode(dev, ("opencode", dev.password)), 60, "OpenCode")
    assert ok.status_code == 200 and ok.json()["healthy"] is True
    assert ok.json()["version"] == "1.18.33"

    novnc = await eventually(lambda: _page(f"{dev.novnc}/vnc.html"), READY_S, "noVNC page")
    assert "noVNC" in novnc.text

    logs = await vm.client.exec(["ls", "/var/log/atelier"])
    for name in SERVICES:
        assert f"{name}.log" in logs.stdout.decode()

    before = (await service_states(vm))["code-server"]
    assert before.pid is not None
    killed = await vm.client.exec(["kill", "-KILL", str(before.pid)])
    assert killed.exit_code == 0

    async def restarted() -> bool | None:
        now = (await service_states(vm))["code-server"]
        moved = now.state == "running" and now.pid not in (None, before.pid)
        return True if moved and now.restarts > before.restarts else None

    await eventually(restarted, 120, "code-server restarted with a new pid")
    await eventually(lambda: _healthz(dev), READY_S, "code-server /healthz after the restart")


async def _page(url: str) -> httpx.Response | None:
    reply = await http_get(url)
    return reply if reply.status_code == 200 else None
