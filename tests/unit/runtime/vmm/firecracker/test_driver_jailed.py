"""FirecrackerVmm through the (fake) jailer: chroot contents, argv, pid file, snapshots."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from atelier.runtime.host import proc
from atelier.runtime.vmm.base import VmHandle, VmState
from atelier.runtime.vmm.firecracker import FirecrackerVmm, jailer
from tests.fakes.firecracker_server import FakeBinaries
from tests.unit.runtime.vmm.firecracker.conftest import DriverFactory, Images, SpecFactory

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the jail is chowned to its uid)"),
]

Started = list[tuple[FirecrackerVmm, VmHandle]]


async def test_jailed_boot_snapshot_restore_and_cleanup(
    make_driver: DriverFactory,
    make_spec: SpecFactory,
    images: Images,
    bins: FakeBinaries,
    workdir: Path,
    started: Started,
) -> None:
    driver = make_driver(use_jailer=True)
    spec = make_spec()
    handle = await driver.boot(spec)
    started.append((driver, handle))
    root = jailer.chroot_root(workdir / "jail", spec.name)
    assert handle.extra["root"] == str(root) and handle.extra["jailed"] == "1"
    assert handle.agent.path == root / "v.sock"
    assert (root / "run" / "firecracker.socket").is_socket()
    assert (root / "disk0").stat().st_ino == images.root_disk.stat().st_ino
    assert images.root_disk.stat().st_uid == 1000
    assert int((root / "firecracker.pid").read_text()) == handle.pid
    assert f"--id={spec.name}" in proc.process_cmdline(handle.pid)
    recorded = json.loads((root.parent / "fake-jailer.json").read_text())
    assert recorded["options"]["uid"] == ["1000"] and recorded["cgroup_version"] == "2"
    assert recorded["options"]["cgroup"] == [
        "cpu.max=200000 100000",
        f"memory.max={(256 + 64) << 20}",
    ]
    assert recorded["extra"] == ["--api-sock", "/run/firecracker.socket"]
    assert all(c.status in (200, 204) for c in bins.calls())

    await driver.pause(handle)
    state = workdir / "snap" / "jailed.state"
    await driver.snapshot(handle, state)
    assert state.exists() and state.with_name("jailed.state.mem").exists()
    assert not (root / "snapshot-out.state").exists()
    await driver.kill(handle)
    assert not root.parent.exists()

    restored = await driver.boot(make_spec(restore_from=state))
    started.append((driver, restored))
    assert await driver.status(restored) is VmState.RUNNING
    load = next(c for c in reversed(bins.calls()) if c.path == "/snapshot/load")
    assert load.status == 204 and load.body["snapshot_path"] == "snapshot.state"
    await driver.stop(restored)
    assert not Path(restored.extra["root"]).parent.exists()
