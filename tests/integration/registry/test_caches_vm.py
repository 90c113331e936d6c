"""A guest whose only way out is the host installs through the caches, and a second
install is served from them.

The guest runs restricted QEMU user networking: it can open connections only to the
guest forwards of the two cache ports (no DNS, no internet). The `package_caches` spawn
step (`RegistryExtension`) configures it exactly as at every sandbox boot.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atelier.core.registry import RegistryExtension, RegistryService
from atelier.core.rollback import Rollback
from atelier.core.spawn import SpawnContext, SpawnRequest
from atelier.runtime.host import names
from atelier.runtime.network.base import Allocation
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.network.memory import MemoryAllocationRepository
from atelier.runtime.network.user import UserNetwork
from atelier.runtime.registry import NPM, PYPI
from tests.managerkit import HOST_IMAGES
from tests.vmkit import BootedVm, booted_vm, host_config

# Under TCG on a loaded 2-core machine one `npm` command took minutes (measured: 14 s to
# start node, 151 s for `npm config get`), hence the generous limits.
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow, pytest.mark.timeout(5400)]

PIP_WHEEL = "pip-24.2-py3-none-any.whl"
# Fetches pip's wheel through the cache's PEP 691 JSON index (minimal has no pip), with
# the index URL the guest setup wrote into /etc/pip.conf.
FETCH_PIP = f"""
import configparser, json, urllib.parse, urllib.request
pip = configparser.RawConfigParser(); pip.read("/etc/pip.conf")
index = pip.get("global", "index-url")
req = urllib.request.Request(index + "pip/", headers={{"Accept": "application/vnd.pypi.simple.v1+json"}})
files = json.load(urllib.request.urlopen(req, timeout=120))["files"]
url = next(f["url"] for f in files if f["filename"] == "{PIP_WHEEL}")
data = urllib.request.urlopen(urllib.parse.urljoin(index + "pip/", url), timeout=300).read()
open("/tmp/{PIP_WHEEL}", "wb").write(data)
"""


async def _configure(caches: RegistryService, vm: BootedVm, allocation: Allocation) -> SpawnContext:
    request = SpawnRequest(names.new_id(), "test", 1, 1024, 4, "cachetest")
    ctx = SpawnContext(request, vm.token, allocation=allocation, client=vm.client)
    async with Rollback("test") as rollback:
        await RegistryExtension(caches).on_running(ctx, rollback)
    return ctx


def _network(caches: RegistryService) -> UserNetwork:
    s = caches.settings
    config = NetworkConfig(guest_allowed_host_ports=[s.npm_port, s.pypi_port], service_ports=[22])
    return UserNetwork(config, MemoryAllocationRepository())


async def _sh(vm: BootedVm, script: str, timeout: float = 1800) -> str:
    done = await vm.client.exec(["sh", "-c", script], timeout=timeout)
    out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    assert done.exit_code == 0, f"{script!r} failed ({done.exit_code}):\n{out[-3000:]}"
    return out


async def _counters(caches: RegistryService, name: str) -> dict[str, object]:
    status = await caches.status()
    return next(c.to_dict() for c in status.caches if c.name == name)


async def test_pip_installs_through_the_pypi_cache(
    caches: RegistryService, artifacts_dir: Path
) -> None:
    net = _network(caches)
    allocation = await net.allocate(names.new_id())
    async with booted_vm(
        host_config(), image="minimal", memory_mb=768, nics=(net.nic(allocation),),
        cmdline=allocation.kernel_params(), artifacts=artifacts_dir,
    ) as vm:  # fmt: skip
        ctx = await _configure(caches, vm, allocation)
        assert not ctx.warnings, ctx.warnings
        await _sh(vm, "grep -q 'index-url = http://10.0.2.100:' /etc/pip.conf")
        await vm.client.write_file("/tmp/fetch_pip.py", FETCH_PIP.encode())
        await _sh(vm, "python3 -I /tmp/fetch_pip.py")
        pip = f"python3 /tmp/{PIP_WHEEL}/pip install --no-cache-dir --disable-pip-version-check"
        await _sh(vm, f"{pip} --target /tmp/t1 six==1.16.0 && test -f /tmp/t1/six.py")
        first = await _counters(caches, PYPI)
        await _sh(vm, f"{pip} --target /tmp/t2 six==1.16.0 && test -f /tmp/t2/six.py")
        second = await _counters(caches, PYPI)
    stored = [p.name for p in (caches.settings.root / "pypi-storage").rglob("six-1.16.0*.whl")]
    assert stored == ["six-1.16.0-py2.py3-none-any.whl"]
    assert second["file_requests"] > first["file_requests"]  # type: ignore[operator]
    assert second["file_hits"] > first["file_hits"]  # type: ignore[operator]
    assert second["file_fetches"] == first["file_fetches"], (first, second)
    (artifacts_dir / "pypi-counters.json").write_text(json.dumps([first, second], indent=2))


NODE_TOOLS = {
    "npm": "mkdir -p {d} && cd {d} && npm install --no-audit --no-fund --cache {d}-c is-number",
    "pnpm": "mkdir -p {d} && cd {d} && pnpm add --store-dir {d}-s is-number",
    "yarn": "mkdir -p {d} && cd {d} && yarn add --cache-folder {d}-c --no-progress is-number",
    "bun": "mkdir -p {d} && cd {d} && BUN_INSTALL_CACHE_DIR={d}-c bun add is-number",
}


@pytest.mark.skipif(
    not (HOST_IMAGES / "dev-base" / "manifest.json").exists(),
    reason="needs the dev-base image (node, pnpm, yarn, bun): atelier images build dev-base",
)
async def test_node_package_managers_install_through_verdaccio(
    caches: RegistryService, artifacts_dir: Path
) -> None:
    net = _network(caches)
    allocation = await net.allocate(names.new_id())
    seen: list[dict[str, object]] = []
    async with booted_vm(
        host_config(), image="dev-base", memory_mb=2048, nics=(net.nic(allocation),),
        cmdline=allocation.kernel_params(), artifacts=artifacts_dir,
    ) as vm:  # fmt: skip
        ctx = await _configure(caches, vm, allocation)
        assert not ctx.warnings, ctx.warnings
        for tool, command in NODE_TOOLS.items():
            for attempt in (1, 2):
                await _sh(vm, command.format(d=f"/tmp/{tool}{attempt}"))
                await _sh(vm, f"test -f /tmp/{tool}{attempt}/node_modules/is-number/package.json")
                seen.append({"tool": tool, "attempt": attempt, **await _counters(caches, NPM)})
    (artifacts_dir / "npm-counters.json").write_text(json.dumps(seen, indent=2))
    tarballs = list((caches.settings.root / "npm-storage" / "is-number").glob("*.tgz"))
    assert tarballs, "Verdaccio's storage holds no is-number tarball"
    for before, after in zip(seen[::2], seen[1::2], strict=True):
        assert after["file_hits"] > before["file_hits"], (before, after)  # type: ignore[operator]
        assert after["file_fetches"] == before["file_fetches"], (before, after)
