"""FirecrackerVmm end to end against the fake `firecracker` program.

The driver really spawns the (fake) binary, waits for its API socket and sends its request
sequence; the fake validates every body against firecracker-api.yaml and enforces
Firecracker's state rules, so a wrong body or order fails these tests.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from atelier.errors import ValidationError
from atelier.runtime.host import proc
from atelier.runtime.vmm.base import BootSpec, Nic, VmHandle, Vmm, VmState
from atelier.runtime.vmm.errors import VmmError, VmNotRunning
from atelier.runtime.vmm.firecracker import FirecrackerFault, FirecrackerVmm, api
from atelier.runtime.vmm.firecracker.api import ApiFeatures, FirecrackerApi
from tests.fakes.firecracker_server import FakeBinaries
from tests.unit.runtime.vmm.firecracker.conftest import DriverFactory, SpecFactory

BOOT_SEQUENCE = [
    ("GET", "/version"),
    ("PUT", "/logger"),
    ("PUT", "/metrics"),
    ("PUT", "/machine-config"),
    ("PUT", "/boot-source"),
    ("PUT", "/drives/disk0"),
    ("PUT", "/drives/disk1"),
    ("PUT", "/network-interfaces/eth0"),
    ("PUT", "/vsock"),
    ("PUT", "/entropy"),
    ("PUT", "/balloon"),
    ("PUT", "/actions"),
]

Started = list[tuple[FirecrackerVmm, VmHandle]]


def test_driver_implements_the_protocol(make_driver: DriverFactory) -> None:
    driver: Vmm = make_driver()
    assert isinstance(driver, Vmm)


async def test_boot_configures_firecracker_in_order(
    make_driver: DriverFactory, make_spec: SpecFactory, bins: FakeBinaries, started: Started
) -> None:
    driver = make_driver()
    spec = make_spec()
    handle = await driver.boot(spec)
    started.append((driver, handle))
    calls = bins.calls()
    assert [(c.method, c.path) for c in calls] == BOOT_SEQUENCE
    assert all(c.status in (200, 204) for c in calls), [c.fault for c in calls]
    bodies = {c.path: c.body for c in calls}
    assert bodies["/boot-source"] == {
        "kernel_image_path": "kernel",
        "initrd_path": "initrd",
        "boot_args": "console=ttyS0 reboot=k panic=1 pci=off atelier.root=/dev/vda"
        " init=/sbin/atelier-init quiet",
    }
    assert bodies["/drives/disk0"]["is_root_device"] is True
    assert bodies["/drives/disk1"]["is_read_only"] is True
    assert bodies["/network-interfaces/eth0"]["host_dev_name"] == "atl-abcdefgh"
    assert bodies["/vsock"] == {"guest_cid": 3, "uds_path": "v.sock"}
    assert bodies["/actions"] == {"action_type": "InstanceStart"}
    assert handle.agent.kind == "vsock-uds" and handle.agent.port == 1024
    assert handle.agent.path == driver.run_dir(spec.name) / "v.sock"
    assert handle.extra["firecracker_version"] == "1.17.0"
    assert 0 < float(handle.extra["api_ready_s"]) <= float(handle.extra["started_s"])
    assert await driver.status(handle) is VmState.RUNNING
    assert (await driver.instance_info(handle))["id"] == spec.name
    assert "fake guest" in handle.console_log.read_text()


async def test_stop_sends_ctrl_alt_del_and_removes_everything(
    make_driver: DriverFactory, make_spec: SpecFactory, bins: FakeBinaries, started: Started
) -> None:
    driver = make_driver()
    handle = await driver.boot(make_spec())
    started.append((driver, handle))
    await driver.stop(handle, timeout=10)
    assert bins.calls()[-1].body == {"action_type": "SendCtrlAltDel"}
    assert not proc.pid_alive(handle.pid)
    assert not handle.run_dir.exists()
    assert await driver.status(handle) is VmState.STOPPED
    assert await driver.adopt(handle.name) is None
    with pytest.raises(VmNotRunning):
        await driver.pause(handle)


async def test_pause_and_resume(
    make_driver: DriverFactory, make_spec: SpecFactory, started: Started
) -> None:
    driver = make_driver()
    handle = await driver.boot(make_spec())
    started.append((driver, handle))
    await driver.pause(handle)
    assert await driver.status(handle) is VmState.PAUSED
    await driver.resume(handle)
    assert await driver.status(handle) is VmState.RUNNING


async def test_snapshot_needs_a_paused_vm_and_restores_into_a_fresh_process(
    make_driver: DriverFactory,
    make_spec: SpecFactory,
    bins: FakeBinaries,
    started: Started,
    workdir: Path,
) -> None:
    driver = make_driver()
    handle = await driver.boot(make_spec())
    started.append((driver, handle))
    state = workdir / "snapshots" / "prebuild.state"
    with pytest.raises(FirecrackerFault) as refused:
        await driver.snapshot(handle, state)
    assert "not paused" in refused.value.fault_message
    assert refused.value.hint is not None and "pause" in refused.value.hint
    await driver.pause(handle)
    await driver.snapshot(handle, state)
    assert state.exists() and (workdir / "snapshots" / "prebuild.state.mem").exists()
    await driver.kill(handle)

    tap = Nic(kind="tap", mac="06:00:ac:10:00:03", tap="atl-ijklmnop")
    before = len(bins.calls())
    restored = await driver.boot(make_spec(restore_from=state, nics=(tap,)))
    started.append((driver, restored))
    calls = bins.calls()[before:]
    assert [(c.method, c.path) for c in calls] == [
        ("GET", "/version"),
        ("PUT", "/logger"),
        ("PUT", "/metrics"),
        ("PUT", "/snapshot/load"),
    ]
    load = calls[-1].body
    assert load["resume_vm"] is True
    assert load["network_overrides"] == [{"iface_id": "eth0", "host_dev_name": "atl-ijklmnop"}]
    assert load["vsock_override"] == {"uds_path": "v.sock"}
    assert await driver.status(restored) is VmState.RUNNING
    assert not (restored.run_dir / "snapshot.state").exists()


async def test_diff_snapshot_with_dirty_page_tracking(
    make_driver: DriverFactory,
    make_spec: SpecFactory,
    bins: FakeBinaries,
    started: Started,
    workdir: Path,
) -> None:
    driver = make_driver(firecracker_track_dirty_pages=True)
    handle = await driver.boot(make_spec())
    started.append((driver, handle))
    machine = next(c.body for c in bins.calls() if c.path == "/machine-config")
    assert machine["track_dirty_pages"] is True
    await driver.pause(handle)
    await driver.create_snapshot(handle, workdir / "diff.state", diff=True)
    assert bins.calls()[-1].body["snapshot_type"] == "Diff"
    assert (workdir / "diff.state.mem").exists()


async def test_balloon_and_metrics(
    make_driver: DriverFactory, make_spec: SpecFactory, bins: FakeBinaries, started: Started
) -> None:
    driver = make_driver()
    handle = await driver.boot(make_spec())
    started.append((driver, handle))
    await driver.set_balloon(handle, 64)
    assert bins.calls()[-1].body == {"amount_mib": 64}
    assert (await driver.balloon_statistics(handle))["target_mib"] == 64
    metrics = await driver.metrics(handle)
    assert bins.calls()[-1].body == {"action_type": "FlushMetrics"}
    assert "api" in metrics


async def test_balloon_statistics_disabled_is_a_fault(
    make_driver: DriverFactory, make_spec: SpecFactory, started: Started
) -> None:
    driver = make_driver(firecracker_balloon_stats_s=0)
    handle = await driver.boot(make_spec())
    started.append((driver, handle))
    with pytest.raises(FirecrackerFault, match="statistics are not enabled"):
        await driver.balloon_statistics(handle)


async def test_refused_boot_carries_the_fault_and_leaves_nothing(
    make_driver: DriverFactory, make_spec: SpecFactory, bins: FakeBinaries
) -> None:
    driver = make_driver()
    nic = Nic(kind="tap", mac="06:00:ac:10:00:02", tap="atl-abcdefgh")
    spec = make_spec(nics=(nic, nic))
    with pytest.raises(FirecrackerFault) as caught:
        await driver.boot(spec)
    assert caught.value.fault_message.startswith("Network interface error")
    assert not driver.run_dir(spec.name).exists()
    assert await driver.adopt(spec.name) is None
    assert not any(spec.name in " ".join(proc.process_cmdline(int(p))) for p in _pids())


class _StartsTooEarly(FirecrackerVmm):
    """A deliberately broken driver: InstanceStart before the boot source is configured."""

    async def _configure(
        self, client: FirecrackerApi, spec: BootSpec, features: ApiFeatures
    ) -> None:
        await client.call(api.instance_start())
        await super()._configure(client, spec, features)


async def test_a_wrong_order_in_the_driver_fails_against_the_fake(
    make_driver: DriverFactory, make_spec: SpecFactory, workdir: Path
) -> None:
    good = make_driver()
    broken = _StartsTooEarly(good._config, workdir / "run")
    spec = make_spec()
    with pytest.raises(FirecrackerFault, match="without kernel configuration"):
        await broken.boot(spec)
    assert not broken.run_dir(spec.name).exists()


async def test_user_networking_is_refused_before_anything_starts(
    make_driver: DriverFactory, make_spec: SpecFactory, bins: FakeBinaries
) -> None:
    spec = make_spec(nics=(Nic(kind="user", mac="06:00:ac:10:00:02"),))
    with pytest.raises(ValidationError, match="only 'tap'") as caught:
        await make_driver().boot(spec)
    assert caught.value.field == "nics[0].kind"
    assert bins.calls() == []


async def test_missing_binary_names_the_install_command(
    make_driver: DriverFactory, make_spec: SpecFactory, workdir: Path
) -> None:
    driver = make_driver(firecracker_binary=workdir / "nope")
    with pytest.raises(VmmError) as caught:
        await driver.boot(make_spec())
    assert caught.value.hint is not None and "atelier install firecracker" in caught.value.hint


async def test_a_restarted_manager_adopts_the_vm(
    make_driver: DriverFactory, make_spec: SpecFactory, started: Started
) -> None:
    handle = await make_driver().boot(make_spec())
    started.append((make_driver(), handle))
    adopted = await make_driver().adopt(handle.name)
    assert adopted == handle
    assert make_driver().list_run_dirs() == [handle.name]
    with pytest.raises(VmmError, match="already running"):
        await make_driver().boot(make_spec(name=handle.name))


async def test_the_vsock_socket_speaks_the_hybrid_handshake(
    make_driver: DriverFactory, make_spec: SpecFactory, workdir: Path, started: Started
) -> None:
    from tests.fakes.firecracker_server import write_fake_binaries

    echo_path = workdir / "echo.sock"
    echo = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    echo.bind(str(echo_path))
    echo.listen(1)
    try:
        bins = write_fake_binaries(workdir / "vbin", vsock_backends={1024: echo_path})
        driver = make_driver(firecracker_binary=bins.firecracker)
        handle = await driver.boot(make_spec())
        started.append((driver, handle))
        assert handle.agent.path is not None
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(10)
            client.connect(str(handle.agent.path))
            client.sendall(b"CONNECT 1024\n")
            guest, _ = echo.accept()
            with guest:
                assert client.recv(64) == b"OK 1073741824\n"
                client.sendall(b"ping")
                assert guest.recv(4) == b"ping"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(10)
            client.connect(str(handle.agent.path))
            client.sendall(b"CONNECT 9\n")
            assert client.recv(64) == b""
    finally:
        echo.close()


def _pids() -> list[str]:
    return [entry for entry in os.listdir("/proc") if entry.isdigit()]
