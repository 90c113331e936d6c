"""Every request builder against firecracker-api.yaml, and the client's error translation."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.runtime.vmm.errors import VmmError
from atelier.runtime.vmm.firecracker import api
from atelier.runtime.vmm.firecracker.api import ApiFeatures, ApiRequest, FirecrackerApi
from atelier.runtime.vmm.firecracker.errors import FirecrackerFault
from tests.fakes.firecracker import FakeFirecracker
from tests.fakes.firecracker_server import FakeFirecrackerServer
from tests.fakes.firecracker_spec import RequestRejected, SwaggerApi

NEW = ApiFeatures((1, 17, 0))
OLD = ApiFeatures((1, 10, 1))

BUILDERS: dict[str, ApiRequest] = {
    "describe_instance": api.describe_instance(),
    "version": api.get_version(),
    "vm_config": api.get_vm_config(),
    "logger": api.put_logger("firecracker.log"),
    "metrics": api.put_metrics("metrics.json"),
    "machine_config": api.put_machine_config(2, 512),
    "machine_config_dirty": api.put_machine_config(1, 128, track_dirty_pages=True),
    "boot_source": api.put_boot_source("kernel", "initrd", "console=ttyS0 reboot=k"),
    "boot_source_no_initrd": api.put_boot_source("kernel", None, "console=ttyS0"),
    "root_drive": api.put_drive("disk0", "disk0", root=True, read_only=False),
    "ro_drive_unsafe": api.put_drive("disk1", "disk1", root=False, read_only=True, cache="unsafe"),
    "drive_cache_none": api.put_drive("disk2", "disk2", root=False, read_only=False, cache="none"),
    "nic": api.put_network_interface("eth0", "atl-abcdefgh", "06:00:ac:10:00:02"),
    "vsock": api.put_vsock("v.sock", 3),
    "entropy": api.put_entropy(),
    "balloon": api.put_balloon(0, stats_s=5),
    "balloon_update": api.patch_balloon(256),
    "balloon_stats": api.get_balloon_statistics(),
    "instance_start": api.instance_start(),
    "ctrl_alt_del": api.send_ctrl_alt_del(),
    "flush_metrics": api.flush_metrics(),
    "pause": api.patch_vm(paused=True),
    "resume": api.patch_vm(paused=False),
    "snapshot_full": api.create_snapshot("snapshot.state", "snapshot.mem"),
    "snapshot_diff": api.create_snapshot("s", "m", diff=True),
    "load_new": api.load_snapshot(
        "s", "m", NEW, taps={"eth0": "atl-abcdefgh"}, vsock_uds="v.sock", track_dirty_pages=True
    ),
    "load_old": api.load_snapshot(
        "s", "m", OLD, taps={"eth0": "atl-abcdefgh"}, vsock_uds="v.sock", track_dirty_pages=True
    ),
    "load_paused": api.load_snapshot("s", "m", NEW, resume=False),
}


@pytest.fixture(scope="module")
def swagger() -> SwaggerApi:
    return SwaggerApi()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_matches_the_api_description(swagger: SwaggerApi, name: str) -> None:
    request = BUILDERS[name]
    operation, _ = swagger.validate(request.method, request.path, request.body)
    assert operation.method == request.method


def test_builders_cover_every_operation_the_driver_uses(swagger: SwaggerApi) -> None:
    used = {(r.method, swagger.match(r.method, r.path)[0].template) for r in BUILDERS.values()}
    assert used == {
        ("GET", "/"),
        ("GET", "/version"),
        ("GET", "/vm/config"),
        ("GET", "/balloon/statistics"),
        ("PUT", "/logger"),
        ("PUT", "/metrics"),
        ("PUT", "/machine-config"),
        ("PUT", "/boot-source"),
        ("PUT", "/drives/{drive_id}"),
        ("PUT", "/network-interfaces/{iface_id}"),
        ("PUT", "/vsock"),
        ("PUT", "/entropy"),
        ("PUT", "/balloon"),
        ("PATCH", "/balloon"),
        ("PUT", "/actions"),
        ("PATCH", "/vm"),
        ("PUT", "/snapshot/create"),
        ("PUT", "/snapshot/load"),
    }


def test_load_snapshot_leaves_out_fields_older_versions_reject() -> None:
    old = BUILDERS["load_old"].body
    new = BUILDERS["load_new"].body
    assert old is not None and new is not None
    assert "enable_diff_snapshots" in old and "vsock_override" not in old
    assert new["track_dirty_pages"] is True
    assert new["vsock_override"] == {"uds_path": "v.sock"}
    assert new["network_overrides"] == [{"iface_id": "eth0", "host_dev_name": "atl-abcdefgh"}]
    assert new["mem_backend"] == {"backend_type": "File", "backend_path": "m"}
    ancient = api.load_snapshot("s", "m", ApiFeatures((1, 5, 0)), taps={"eth0": "t"}).body
    assert ancient is not None and "network_overrides" not in ancient


@pytest.mark.parametrize(
    ("text", "version"),
    [("1.14.1", (1, 14, 1)), ("v1.17.0-dev", (1, 17, 0)), ("Firecracker v1.4.0", (1, 4, 0))],
)
def test_features_parse_versions(text: str, version: tuple[int, int, int]) -> None:
    assert ApiFeatures.from_version(text).version == version


def test_features_thresholds() -> None:
    assert not ApiFeatures((1, 3, 9)).entropy and ApiFeatures((1, 4, 0)).entropy
    assert not ApiFeatures((1, 15, 0)).vsock_override and ApiFeatures((1, 16, 0)).vsock_override
    with pytest.raises(VmmError, match="cannot parse"):
        ApiFeatures.from_version("unknown")


def test_strict_schema_rejects_an_unknown_field(swagger: SwaggerApi) -> None:
    body = {"vcpu_count": 1, "mem_size_mib": 128, "mem_size_mb": 128}
    with pytest.raises(RequestRejected, match="Additional properties"):
        swagger.validate("PUT", "/machine-config", body)


@pytest.fixture
def served() -> Iterator[tuple[FakeFirecracker, Path]]:
    root = Path(tempfile.mkdtemp(prefix="fcapi", dir="/tmp"))
    fake = FakeFirecracker(root)
    server = FakeFirecrackerServer(fake, root / "api.sock")
    server.start()
    try:
        yield fake, root / "api.sock"
    finally:
        server.stop()
        shutil.rmtree(root)


async def test_client_raises_fault_with_firecrackers_message(
    served: tuple[FakeFirecracker, Path],
) -> None:
    _, sock = served
    async with FirecrackerApi(sock, vm="atl-tst-aaaaaaaa") as client:
        assert (await client.call(api.get_version()))["firecracker_version"] == "1.17.0-dev"
        with pytest.raises(FirecrackerFault) as caught:
            await client.call(api.patch_vm(paused=True))
    fault = caught.value
    assert fault.fault_message == (
        "The requested operation is not supported before starting the microVM."
    )
    assert fault.status_code == 400 and fault.path == "/vm"
    assert "atl-tst-aaaaaaaa" in fault.message and fault.hint is not None


async def test_client_reports_an_unreachable_socket(tmp_path: Path) -> None:
    async with FirecrackerApi(tmp_path / "missing.sock", timeout=1) as client:
        with pytest.raises(VmmError, match="cannot reach the Firecracker API socket"):
            await client.call(api.describe_instance())
