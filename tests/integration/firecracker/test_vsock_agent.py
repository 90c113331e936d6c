"""The host agent client over Firecracker's hybrid vsock, with the real guest agent behind it.

A fake hybrid vsock socket checks the `CONNECT <port>` handshake and relays to the real
agent (run on the host over a Unix socket); `AgentClient` then speaks the same framed
protocol as over QEMU. The second test puts the fake Firecracker program in front, so the
whole path is the driver's: boot, `handle.agent`, handshake, agent.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from atelier.guest.protocol import VSOCK_PORT
from atelier.runtime.agent import AgentClient, AgentEndpoint, AgentUnavailable
from atelier.runtime.host import names
from atelier.runtime.vmm.base import BootSpec, Disk
from atelier.runtime.vmm.config import VmmConfig
from atelier.runtime.vmm.firecracker import FirecrackerVmm
from tests.fakes.firecracker_server import write_fake_binaries
from tests.fakes.guest_agent import AgentProcess, unix_agent
from tests.fakes.vsock import FakeHybridVsock

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fcv", dir="/tmp"))  # short: it holds sockets
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def agent(workdir: Path) -> AsyncIterator[AgentProcess]:
    (workdir / "agent").mkdir()
    async with unix_agent(workdir / "agent", TOKEN) as running:
        yield running


@pytest.fixture
def vsock(workdir: Path, agent: AgentProcess) -> Iterator[FakeHybridVsock]:
    assert agent.endpoint.path is not None
    fake = FakeHybridVsock(workdir / "v.sock", {VSOCK_PORT: agent.endpoint.path})
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


async def test_client_connects_through_the_handshake(vsock: FakeHybridVsock) -> None:
    endpoint = AgentEndpoint(kind="vsock-uds", path=vsock.uds_path, port=VSOCK_PORT)
    async with await AgentClient.wait_ready(endpoint, TOKEN, time.monotonic() + 20) as client:
        health = await client.health()
        result = await client.exec(["echo", "over vsock"])
    assert health.status == "ok"
    assert result.ok and result.text == "over vsock\n"
    assert vsock.commands[0] == f"CONNECT {VSOCK_PORT}\n".encode()
    assert vsock.accepted == [VSOCK_PORT]


async def test_a_port_nobody_listens_on_is_refused(vsock: FakeHybridVsock) -> None:
    endpoint = AgentEndpoint(kind="vsock-uds", path=vsock.uds_path, port=VSOCK_PORT + 1)
    with pytest.raises(AgentUnavailable):
        await AgentClient.connect(endpoint, TOKEN, timeout=5)
    assert vsock.commands == [f"CONNECT {VSOCK_PORT + 1}\n".encode()]


async def test_driver_handle_reaches_the_agent(workdir: Path, agent: AgentProcess) -> None:
    assert agent.endpoint.path is not None
    bins = write_fake_binaries(workdir / "bin", vsock_backends={VSOCK_PORT: agent.endpoint.path})
    kernel, disk = workdir / "vmlinux", workdir / "root.img"
    for path in (kernel, disk):
        path.write_bytes(b"\0" * 4096)
    config = VmmConfig(firecracker_binary=bins.firecracker, use_jailer=False)
    driver = FirecrackerVmm(config, workdir / "run")
    spec = BootSpec(
        name=names.vm_name("tst", names.new_id()),
        kernel=kernel,
        initrd=None,
        cmdline=(f"atelier.token={TOKEN}",),
        vcpus=1,
        memory_mb=256,
        disks=(Disk(disk),),
    )
    handle = await driver.boot(spec)
    try:
        assert handle.agent.kind == "vsock-uds"
        deadline = time.monotonic() + 20
        async with await AgentClient.wait_ready(handle.agent, TOKEN, deadline) as client:
            result = await client.exec(["uname", "-s"])
        assert result.ok and result.text == "Linux\n"
    finally:
        await driver.kill(handle)
