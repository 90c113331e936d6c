"""The fake Firecracker refuses what the real one refuses, so a driver bug fails the tests.

Each case feeds a deliberately wrong body or a call in the wrong state; the fake must answer
400 with a fault message, and through the real client that becomes a FirecrackerFault.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atelier.runtime.vmm.firecracker import api
from atelier.runtime.vmm.firecracker.api import ApiRequest, FirecrackerApi
from atelier.runtime.vmm.firecracker.errors import FirecrackerFault
from tests.fakes.firecracker import PAUSED, RUNNING, FakeFirecracker
from tests.fakes.firecracker_server import FakeFirecrackerServer

MACHINE = {"vcpu_count": 1, "mem_size_mib": 128}


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fcfake", dir="/tmp"))
    for name in ("kernel", "disk0", "firecracker.log", "metrics.json"):
        (path / name).write_text("")
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def fake(root: Path) -> Iterator[FakeFirecracker]:
    firecracker = FakeFirecracker(root)
    try:
        yield firecracker
    finally:
        firecracker.close()


def send(fake: FakeFirecracker, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    raw = b"" if body is None else json.dumps(body).encode()
    return fake.handle(method, path, raw)


def boot(fake: FakeFirecracker) -> None:
    for request in (
        api.put_machine_config(1, 128),
        api.put_boot_source("kernel", None, "console=ttyS0"),
        api.put_drive("disk0", "disk0", root=True, read_only=False),
        api.instance_start(),
    ):
        assert send(fake, request.method, request.path, request.body)[0] == 204


def refused(fake: FakeFirecracker, method: str, path: str, body: Any, reason: str) -> None:
    status, answer = send(fake, method, path, body)
    assert status == 400, answer
    assert reason in answer["fault_message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "reason"),
    [
        ("PUT", "/machine-config", {**MACHINE, "mem_size_mb": 128}, "Additional properties"),
        ("PUT", "/machine-config", {"vcpu_count": "2", "mem_size_mib": 128}, "is not of type"),
        ("PUT", "/machine-config", {"vcpu_count": 1}, "'mem_size_mib' is a required property"),
        ("PUT", "/drives/disk0", {"drive_id": "disk0", "path_on_host": "disk0"}, "is_root_device"),
        ("PUT", "/actions", {"action_type": "Reboot"}, "is not one of"),
        ("PATCH", "/vm", {"state": "Stopped"}, "is not one of"),
        ("PUT", "/boot-source", None, "Empty request body"),
        ("DELETE", "/vm", None, "Invalid request method and/or path"),
        ("PUT", "/drive/disk0", {}, "Invalid request method and/or path"),
        ("PUT", "/drives/disk-0", {"drive_id": "disk-0", "is_root_device": True}, "alphanumeric"),
        (
            "PUT",
            "/drives/disk1",
            {"drive_id": "disk0", "path_on_host": "disk0", "is_root_device": True},
            "does not match",
        ),
        ("PUT", "/boot-source", {"kernel_image_path": "vmlinux"}, "cannot be opened"),
        ("PUT", "/logger", {"log_path": "missing.log"}, "cannot be opened"),
    ],
)
def test_bad_bodies_are_refused(
    fake: FakeFirecracker, method: str, path: str, body: Any, reason: str
) -> None:
    refused(fake, method, path, body, reason)


def test_pre_boot_calls_are_refused_after_instance_start(fake: FakeFirecracker) -> None:
    boot(fake)
    assert fake.state == RUNNING
    after = "not supported after starting the microVM"
    refused(fake, "PUT", "/boot-source", {"kernel_image_path": "kernel"}, after)
    refused(fake, "PUT", "/machine-config", MACHINE, after)
    refused(fake, "PUT", "/vsock", {"guest_cid": 3, "uds_path": "v.sock"}, after)
    refused(fake, "PUT", "/actions", {"action_type": "InstanceStart"}, after)
    refused(fake, "PUT", "/snapshot/load", {"snapshot_path": "s"}, after)


def test_post_boot_calls_are_refused_before_start(fake: FakeFirecracker) -> None:
    before = "not supported before starting the microVM"
    refused(fake, "PATCH", "/vm", {"state": "Paused"}, before)
    refused(fake, "PUT", "/actions", {"action_type": "SendCtrlAltDel"}, before)
    refused(fake, "PUT", "/snapshot/create", {"snapshot_path": "s", "mem_file_path": "m"}, before)
    refused(fake, "PUT", "/actions", {"action_type": "InstanceStart"}, "without kernel")


def test_snapshot_create_only_while_paused(fake: FakeFirecracker, root: Path) -> None:
    boot(fake)
    body = {"snapshot_path": "s", "mem_file_path": "m"}
    refused(fake, "PUT", "/snapshot/create", body, "not paused")
    assert send(fake, "PATCH", "/vm", {"state": "Paused"})[0] == 204
    assert fake.state == PAUSED
    assert send(fake, "PUT", "/snapshot/create", body)[0] == 204
    assert (root / "s").exists() and (root / "m").stat().st_size == 128 << 20


def test_snapshot_load_only_into_a_fresh_process(fake: FakeFirecracker) -> None:
    assert send(fake, "PUT", "/logger", {"log_path": "firecracker.log"})[0] == 204
    request = api.put_machine_config(1, 128)
    assert send(fake, request.method, request.path, request.body)[0] == 204
    body = {"snapshot_path": "s", "mem_backend": {"backend_type": "File", "backend_path": "m"}}
    refused(fake, "PUT", "/snapshot/load", body, "not allowed after configuring boot-specific")


def test_snapshot_load_needs_exactly_one_memory_source(fake: FakeFirecracker) -> None:
    backend = {"backend_type": "File", "backend_path": "m"}
    body = {"snapshot_path": "s", "mem_file_path": "m", "mem_backend": backend}
    refused(fake, "PUT", "/snapshot/load", body, "Either mem_file_path or mem_backend")


def test_every_call_is_recorded(fake: FakeFirecracker) -> None:
    send(fake, "PATCH", "/vm", {"state": "Paused"})
    boot(fake)
    assert [(c.method, c.path, c.status) for c in fake.calls][:2] == [
        ("PATCH", "/vm", 400),
        ("PUT", "/machine-config", 204),
    ]


async def test_a_driver_bug_reaches_the_client_as_a_fault(
    root: Path, fake: FakeFirecracker
) -> None:
    """A mistyped field or a wrong order in a builder would make the driver's tests fail."""
    typo = ApiRequest("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mb": 128})
    with FakeFirecrackerServer(fake, root / "api.sock"):
        async with FirecrackerApi(root / "api.sock") as client:
            with pytest.raises(FirecrackerFault, match="mem_size"):
                await client.call(typo)
            with pytest.raises(FirecrackerFault, match="without kernel configuration"):
                await client.call(api.instance_start())
