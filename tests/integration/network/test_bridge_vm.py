"""Two real sandboxes (QEMU VMs on TAPs) behind the bridge driver, inside the test's namespaces.

What the guests can and cannot reach is checked from inside the VMs through their agents,
with the same probe the namespace tests use.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from atelier.runtime.host import names
from atelier.runtime.network.base import Allocation
from tests.integration.network.conftest import (
    CACHE_PORT,
    LAN,
    METADATA,
    PRIVATE_PORT,
    PROBE,
    UPLINK_HOST,
    WEB,
    Lab,
    open_lab,
)
from tests.vmkit import BootedVm, booted_vm, host_config

pytestmark = [pytest.mark.vm, pytest.mark.root]


async def probe(vm: BootedVm, *args: str) -> tuple[int, str]:
    done = await vm.client.exec(["python3", "/root/netprobe.py", *args], timeout=30)
    return done.exit_code or 0, done.stdout.decode().strip()


async def test_two_sandboxes_on_the_bridge(artifacts_dir: Path) -> None:
    lab: Lab = await open_lab()
    try:
        net = lab.driver()
        await net.setup()
        first: Allocation = await net.allocate(names.new_id())
        second: Allocation = await net.allocate(names.new_id())
        config = host_config()
        async with (
            booted_vm(config, nics=(net.nic(first),), cmdline=(*first.kernel_params(), "atelier.services=sshd"),
                      netns=lab.host, artifacts=artifacts_dir) as vm_a,
            booted_vm(config, nics=(net.nic(second),), cmdline=(*second.kernel_params(), "atelier.services=sshd"),
                      netns=lab.host, artifacts=artifacts_dir) as vm_b,
        ):  # fmt: skip
            for vm in (vm_a, vm_b):
                await vm.client.write_file("/root/netprobe.py", PROBE.read_bytes())
            gateway = str(first.gateway)
            # Allowed: a service on the host's bridge address, and the internet (masqueraded).
            for vm, allocation in ((vm_a, first), (vm_b, second)):
                code, out = await probe(vm, "connect", gateway, str(CACHE_PORT))
                assert (code, out) == (0, f"host {allocation.ip}"), out
                code, out = await probe(vm, "connect", WEB, "8080")
                assert (code, out) == (0, f"inet {UPLINK_HOST}"), out
            code, out = await probe(vm_a, "dns", gateway, "example.test")
            assert code == 0 and WEB in out, out
            # Blocked: the other sandbox, a host port not allowed, metadata, the host's LAN.
            for target, port in ((str(second.ip), "22"), (gateway, str(PRIVATE_PORT)),
                                 (METADATA, "80"), (LAN, "8080")):  # fmt: skip
                code, out = await probe(vm_a, "connect", target, port, "2")
                assert code != 0, f"guest reached {target}:{port}: {out}"
            # dial() reaches a guest port from the root namespace (sshd's banner).
            reader, writer = await net.dial(first, 22)
            banner = await reader.readline()
            writer.close()
            assert banner.startswith(b"SSH-2.0-"), banner
            # A guest that changes its own address gets nothing through.
            nics = [
                e.name
                for e in await vm_b.client.list_dir("/sys/class/net")
                if (await vm_b.client.read_file(f"/sys/class/net/{e.name}/address"))
                .decode()
                .strip()
                == second.mac
            ]
            assert len(nics) == 1, nics
            spoofed = f"{second.subnet.network_address + 200}/{second.prefix}"
            await vm_b.client.exec(["ip", "addr", "flush", "dev", nics[0]])
            spoof = await vm_b.client.exec(["ip", "addr", "add", spoofed, "dev", nics[0]])
            assert spoof.exit_code == 0, spoof.stderr
            code, out = await probe(vm_b, "connect", gateway, str(CACHE_PORT), "2")
            assert code != 0, f"a spoofed address got through: {out}"
        # Releasing removes the TAP and its rules.
        await net.release(first.sandbox_id)
        links = await lab.ip(lab.host, "-o", "link")
        assert str(first.tap) not in links.text
        assert str(second.tap) in links.text
        await net.release(second.sandbox_id)
    finally:
        with contextlib.suppress(Exception):
            await lab.driver().teardown(force=True)
        await lab.close()
