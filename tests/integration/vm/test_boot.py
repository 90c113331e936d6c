"""The foundation end to end: boot `minimal` with QEMU and use the agent inside it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from pathlib import Path

import pytest

from atelier.runtime.host import proc
from atelier.runtime.host.proc import wait_for_exit
from tests.vmkit import booted_vm, host_config, leftovers, new_temp_files, temp_files

pytestmark = [pytest.mark.vm, pytest.mark.root]


async def test_boot_exec_and_file_round_trip_leave_nothing_behind(artifacts_dir: Path) -> None:
    config = host_config()
    before = temp_files()
    async with booted_vm(config, artifacts=artifacts_dir) as vm:
        name = vm.handle.name
        uname = await vm.client.exec(["uname", "-r"])
        assert uname.exit_code == 0
        assert uname.stdout.decode().strip(), "uname -r printed nothing"
        payload = secrets.token_bytes(256 * 1024)
        await vm.client.write_file("/root/probe.bin", payload)
        assert await vm.client.read_file("/root/probe.bin") == payload
        check = await vm.client.exec(["sha256sum", "/root/probe.bin"])
        assert check.stdout.decode().split()[0] == hashlib.sha256(payload).hexdigest()
        assert vm.handle.run_dir.exists() and vm.handle.agent.path is not None
        assert vm.handle.agent.path.exists()
    assert leftovers(config, name) == []
    assert new_temp_files(before) == set()


async def test_failure_midway_still_cleans_up(artifacts_dir: Path) -> None:
    config = host_config()
    before = temp_files()
    name = ""
    with pytest.raises(RuntimeError, match="injected"):
        async with booted_vm(config, artifacts=artifacts_dir) as vm:
            name = vm.handle.name
            await vm.client.exec(["true"])
            raise RuntimeError("injected failure in the middle of a test")
    assert name
    assert leftovers(config, name) == []
    assert new_temp_files(before) == set()


@pytest.mark.parametrize("kernel", ["custom", "cloud"])
async def test_guest_kernel_supports_namespaces_and_nftables(
    kernel: str, artifacts_dir: Path
) -> None:
    async with booted_vm(host_config(), artifacts=artifacts_dir, kernel=kernel) as vm:
        release = await vm.client.exec(["uname", "-r"])
        assert ("atelier" in release.text) == (kernel == "custom"), release.text
        unshare = await vm.client.exec(["unshare", "-n", "true"])
        assert unshare.exit_code == 0, unshare.stderr
        nft = await vm.client.exec(["nft", "list", "ruleset"])
        assert nft.exit_code == 0, nft.stderr


async def test_ctrl_alt_del_makes_the_guest_power_off_cleanly(artifacts_dir: Path) -> None:
    config = host_config()
    async with booted_vm(config, artifacts=artifacts_dir) as vm:
        keys = [{"type": "qcode", "data": k} for k in ("ctrl", "alt", "delete")]
        await vm.vmm.qmp(vm.handle, "send-key", {"keys": keys})
        assert await wait_for_exit(vm.handle.pid, 60), "the guest ignored Ctrl-Alt-Del"
        assert "Ctrl-Alt-Del: shutting down" in vm.handle.console_log.read_text()


def test_debug_vm_cli_prints_json_with_timings() -> None:
    done = asyncio.run(
        proc.run(
            [
                str(Path(__file__).resolve().parents[3] / ".venv/bin/atelier"),
                "debug-vm", "start", "--exec", "cat /etc/os-release", "--json",
            ],
            timeout=300,
            check=False,
        )
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert result["exec"]["exit_code"] == 0
    assert "bookworm" in result["exec"]["stdout"]
    timings = result["timings"]
    for phase in ("vmm_ms", "kernel_ms", "init_ms", "agent_ready_ms"):
        assert isinstance(timings[phase], float) and timings[phase] > 0, phase
    assert result["vmm"] == "qemu"
