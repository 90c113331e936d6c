"""The agent behind a virtio-serial imitation: one byte stream, hang-ups, reconnects."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from atelier.guest import protocol as p
from atelier.runtime.agent import AgentClient, AgentDisconnected, AgentUnauthorized
from tests.fakes.guest_agent import AgentProcess, SerialRelay
from tests.integration.agent.conftest import TOKEN, gone, ready_client, wait_for

Serial = tuple[AgentProcess, SerialRelay]


async def test_8_mib_round_trip(serial: Serial, tmp_path: Path) -> None:
    agent, _ = serial
    data = os.urandom(8 << 20)
    async with await ready_client(agent.endpoint) as client:
        await client.write_file(str(tmp_path / "blob"), data)
        back = await client.read_file(str(tmp_path / "blob"))
    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()


async def test_exec_file_and_pty_run_concurrently_on_one_channel(
    serial: Serial, tmp_path: Path
) -> None:
    agent, relay = serial
    payload = os.urandom(3 << 20)
    async with await ready_client(agent.endpoint) as client:
        pty = await client.pty_open(["/bin/sh"], env={"PS1": "$ "})
        ticker = await client.exec_stream(
            shell="for i in $(seq 1 200); do echo tick $i; done; sleep 0.2"
        )

        async def terminal() -> bytes:
            await pty.write(b"echo pty-$((6*7))\n")
            seen = b""
            while b"pty-42" not in seen:
                seen += await pty.read()
            return seen

        async def files() -> bytes:
            await client.write_file(str(tmp_path / "concurrent"), payload)
            return await client.read_file(str(tmp_path / "concurrent"))

        async def ticks() -> bytes:
            return b"".join([chunk async for _, chunk in ticker])

        seen, back, out = await asyncio.wait_for(asyncio.gather(terminal(), files(), ticks()), 60)
        assert b"pty-42" in seen
        assert back == payload
        assert out.splitlines()[-1] == b"tick 200"
        assert (await ticker.wait()).ok
        await client.pty_close(pty.session)
    assert relay.connections == 1  # all of it shared one connection


async def test_host_disconnect_mid_request_then_reconnect(serial: Serial, tmp_path: Path) -> None:
    agent, relay = serial
    async with await ready_client(agent.endpoint) as client:
        proc = await client.exec_stream(["sleep", "300"])
        upload = asyncio.create_task(
            client.write_file(str(tmp_path / "partial"), os.urandom(64 << 20))
        )

        # Cut the host side off once the agent is writing the upload (its temporary file
        # exists), not after a fixed delay: on a quiet host a small upload finished first.
        async def upload_begun() -> bool:
            return any("partial" in name for name in os.listdir(tmp_path))

        await wait_for(upload_begun, within=30, every=0.002)
        relay.drop()
        with pytest.raises(AgentDisconnected):
            await proc.wait()
        with pytest.raises(AgentDisconnected):
            await upload
        # The next call dials again and works; the old session's command was killed.
        assert (await client.health()).status == "ok"
        assert await gone(proc.pid)
        result = await client.exec(["echo", "again"])
        assert result.stdout == b"again\n"
    assert relay.connections == 2
    assert not (tmp_path / "partial").exists()
    assert [name for name in os.listdir(tmp_path) if "partial" in name] == []


async def test_half_a_frame_before_a_hang_up_is_discarded(serial: Serial) -> None:
    agent, relay = serial
    reader, writer = await asyncio.open_unix_connection(str(relay.path))
    frame = p.encode_message(p.HELLO, 0, {"min": 1, "max": 1, "nonce": b"x" * 8})
    writer.write(frame[: len(frame) // 2] + p.MAGIC + b"\x02")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    del reader
    async with await ready_client(agent.endpoint) as client:
        assert (await client.exec(["true"])).ok


async def test_wrong_token_over_serial(serial: Serial) -> None:
    agent, _ = serial
    with pytest.raises(AgentUnauthorized):
        await ready_client(agent.endpoint, token="not-the-token-at-all")
    async with await ready_client(agent.endpoint, token=TOKEN) as client:
        assert (await client.exec(["true"])).ok


async def test_rapid_reconnects_are_all_answered(serial: Serial) -> None:
    agent, relay = serial
    for _ in range(15):
        # connect() right after close(): the agent may see the hang-up after the new HELLO.
        async with await AgentClient.connect(agent.endpoint, TOKEN, timeout=20) as client:
            assert (await client.health()).status == "ok"
    assert relay.connections == 15
