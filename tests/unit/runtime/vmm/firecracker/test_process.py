"""Firecracker's argv, the VM layout and the stored handle."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.runtime.agent.endpoint import AgentEndpoint
from atelier.runtime.vmm.base import VmHandle
from atelier.runtime.vmm.errors import VmmError
from atelier.runtime.vmm.firecracker import process
from atelier.runtime.vmm.firecracker.process import VmLayout
from atelier.runtime.vmm.firecracker.spec import handle_from_json, handle_to_json


def test_direct_argv() -> None:
    argv = process.firecracker_argv(
        "/usr/local/bin/firecracker",
        api_socket="/run/atelier/vm/x/run/firecracker.socket",
        vm_id="x",
    )
    assert argv == [
        "/usr/local/bin/firecracker",
        "--api-sock", "/run/atelier/vm/x/run/firecracker.socket",
        "--id", "x",
    ]  # fmt: skip


def test_layout_direct_and_jailed() -> None:
    direct = VmLayout("atl-sbx-abcdefgh", Path("/run/vm/a"), Path("/run/vm/a"), jailed=False)
    assert direct.api_socket == Path("/run/vm/a/run/firecracker.socket")
    assert direct.vsock == Path("/run/vm/a/v.sock")
    assert direct.console == Path("/run/vm/a/console.log")
    assert direct.jail_dir is None
    root = Path("/srv/jailer/firecracker/atl-sbx-abcdefgh/root")
    jailed = VmLayout("atl-sbx-abcdefgh", Path("/run/vm/a"), root, jailed=True)
    assert jailed.api_socket == root / "run/firecracker.socket"
    assert jailed.state == Path("/run/vm/a/vm.json")
    assert jailed.jail_dir == root.parent


def test_socket_paths_must_fit_sun_path() -> None:
    deep = Path("/tmp") / ("d" * 90)
    with pytest.raises(VmmError, match="at most 107"):
        VmLayout("x", deep, deep, jailed=False).check_socket_paths()
    VmLayout("x", Path("/run/a"), Path("/run/a"), jailed=False).check_socket_paths()


def test_disk_names_are_valid_drive_ids() -> None:
    assert [process.disk_name(i) for i in range(3)] == ["disk0", "disk1", "disk2"]


def test_handle_round_trips_through_json() -> None:
    handle = VmHandle(
        name="atl-sbx-abcdefgh",
        driver="firecracker",
        pid=42,
        run_dir=Path("/run/vm/a"),
        agent=AgentEndpoint(kind="vsock-uds", path=Path("/run/vm/a/v.sock"), port=1024),
        console_log=Path("/run/vm/a/console.log"),
        argv=("firecracker", "--id", "atl-sbx-abcdefgh"),
        started_at=1.5,
        extra={"root": "/run/vm/a", "jailed": "0"},
    )
    assert handle_from_json(handle_to_json(handle)) == handle
