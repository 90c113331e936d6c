"""Two sandboxes resumed at the same time from one memory snapshot are different machines.

The manager runs in-process with QEMU and the bridge driver inside a network namespace the
test owns (so each guest gets its own address and MAC on a real bridge). Both sandboxes are
restored from the same prebuild memory snapshot (they share the snapshot's boot id) and
must differ in hostname, IP, MAC, machine-id, SSH host key and RNG output, have a correct
clock, and refuse the snapshot's old agent token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atelier.config import AtelierConfig, SandboxDefaults, ServerConfig
from atelier.core.assets import BootAssets
from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.core.runtime import Choice, Runtime
from atelier.core.sandboxes import CreateRequest
from atelier.core.workspaces.install import Workspaces, install_workspaces
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.agent.errors import AgentUnauthorized
from atelier.runtime.storage.config import StorageConfig
from atelier.runtime.storage.select import select_storage
from atelier.runtime.vmm.config import VmmConfig
from atelier.runtime.vmm.qemu import QemuVmm
from tests.hostkit import free_port
from tests.integration.manager.conftest import make_user
from tests.integration.network.conftest import Lab, open_lab
from tests.integration.workspaces.conftest import kill_vms
from tests.managerkit import paths

pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    built = await open_lab()
    try:
        yield built
    finally:
        await built.close()


async def wait_running(manager: Manager, user: Principal, sandbox_id: str) -> None:
    async with asyncio.timeout(600):
        while (view := await manager.sandboxes.get(user, sandbox_id)).status != "running":
            assert view.status in ("queued", "creating"), view
            await asyncio.sleep(0.5)


async def facts(manager: Manager, user: Principal, sandbox_id: str) -> dict[str, str]:
    client = await manager.sandboxes.guest(user, sandbox_id)
    script = (
        "hostname; ip -4 -o addr show eth0 | awk '{print $4}'; cat /sys/class/net/eth0/address;"
        " cat /etc/machine-id; cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub;"
        " head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; date +%s;"
        " cat /proc/sys/kernel/random/boot_id"
    )
    done = await client.exec(["sh", "-c", script], user="root", timeout=60)
    assert done.exit_code == 0, done.stderr
    keys = ["hostname", "ip", "mac", "machine_id", "ssh_key", "random", "clock", "boot_id"]
    return dict(zip(keys, done.stdout.decode().split("\n"), strict=False))


async def test_two_restores_of_one_snapshot_are_distinct(
    tmp_path: Path, pool: Path, lab: Lab, artifacts_dir: Path
) -> None:
    config = AtelierConfig(
        paths=paths(tmp_path),
        server=ServerConfig(host="127.0.0.1", port=free_port()),
        storage=StorageConfig(driver="reflink", pool_dir=pool),
        network=lab.config,
        vmm=VmmConfig(driver="qemu", boot_timeout_s=240),
        sandbox=SandboxDefaults(disk_gb=4),
    )
    storage = await select_storage(config.storage, config.paths.data_dir)
    runtime = Runtime(
        vmm=QemuVmm(config.vmm, config.paths.run_dir, netns=lab.host),
        storage=storage.storage,
        network=lab.driver(),
        assets=BootAssets(config),
        choices={k: Choice("test", "test") for k in ("vmm", "storage", "network")},
    )
    credentials = await make_user(config, "alice")
    user = Principal(credentials.user_id, "alice", "member")
    manager = Manager(config, runtime=runtime)
    ws: Workspaces = install_workspaces(manager, None)
    await manager.start()
    try:
        await _scenario(manager, ws, user)
    finally:
        await manager.stop()
        for vm in await kill_vms(tmp_path):
            (artifacts_dir / "killed-vms.txt").write_text(f"{vm}\n")
        await runtime.network.teardown(force=True) if runtime.network else None


async def _scenario(manager: Manager, ws: Workspaces, user: Principal) -> None:
    definition = {"name": "ident", "image": "minimal", "init": ["echo built > ~/built"],
                  "resources": {"vcpus": 1, "memoryMb": 512, "diskGb": 4}}  # fmt: skip
    record = await ws.workspaces.create(user, definition)
    queued = await ws.prebuilds.request(record.id, "manual")
    await ws.prebuilds.wait(queued.id, 900)
    built = await ws.prebuilds.current(record.id)
    assert built is not None and built.memory_state, await ws.prebuilds.list(user, record.id)
    snapshot_taken = Path(built.memory_state).stat().st_mtime
    # Make the snapshot's clock clearly stale before restoring.
    await asyncio.sleep(max(0.0, 15 - (time.time() - snapshot_taken)))

    created = await asyncio.gather(
        *(manager.sandboxes.create(user, CreateRequest(workspace_id=record.id)) for _ in range(2))
    )
    ids = [view.id for view in created]
    try:
        await asyncio.gather(*(wait_running(manager, user, i) for i in ids))
        origins = await ws.workspaces.origins(user, record.id)
        assert {o["mode"] for o in origins} == {"memory"}, origins
        one, two = [await facts(manager, user, i) for i in ids]
        assert one["boot_id"] == two["boot_id"]  # both resumed the same booted guest
        for key in ("hostname", "ip", "mac", "machine_id", "ssh_key", "random"):
            assert one[key] != two[key], (key, one[key])
        for sandbox_id, found in zip(ids, (one, two), strict=True):
            view = await manager.sandboxes.get(user, sandbox_id)
            assert view.network is not None
            assert found["hostname"] == f"sandbox-{sandbox_id}"
            assert found["ip"] == f"{view.network['ip']}/{view.network['subnet'].split('/')[1]}"
            assert found["mac"] == view.network["mac"]
            assert abs(int(found["clock"]) - time.time()) < 10, found["clock"]
        await _old_token_refused(manager, ws, user, ids[0], built.memory_token)
    finally:
        for sandbox_id in ids:
            await manager.sandboxes.destroy(user, sandbox_id)
        await ws.workspaces.delete(user, record.id)


async def _old_token_refused(
    manager: Manager, ws: Workspaces, user: Principal, sandbox_id: str, sealed: str | None
) -> None:
    assert sealed is not None
    old_token = ws.prebuilds.box.decrypt(sealed)
    row = await manager.sandboxes.lookup(sandbox_id)
    assert row is not None and row.vm is not None
    endpoint = (await manager.sandboxes.guest(user, sandbox_id)).endpoint
    # The virtio-serial port serves one host connection: let go of the manager's first.
    await manager.sandboxes.agents.forget(sandbox_id)
    stale = await AgentClient.connect(endpoint, old_token, timeout=10)
    try:
        with pytest.raises(AgentUnauthorized):
            await stale.health()
    finally:
        await stale.close()
    client = await manager.sandboxes.guest(user, sandbox_id)  # the new token still works
    assert (await client.health()).hostname == f"sandbox-{sandbox_id}"
