"""The client connection against a scripted agent: stale output before HELLO, version checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from atelier.guest import protocol as p
from atelier.runtime.agent import AgentClient, AgentDisconnected, AgentEndpoint, AgentIncompatible

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Start = Callable[[Script], Awaitable[AgentEndpoint]]


@pytest.fixture
async def scripted(tmp_path: Path) -> AsyncIterator[Start]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> AgentEndpoint:
        path = tmp_path / f"agent{len(servers)}.sock"
        servers.append(await asyncio.start_unix_server(script, path=str(path)))
        return AgentEndpoint(kind="unix", path=path)

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def read_frame(reader: asyncio.StreamReader, decoder: p.FrameDecoder) -> p.Frame:
    while (frame := decoder.next_frame()) is None:
        decoder.feed(await reader.read(4096))
    return frame


def hello_reply(
    request: p.Frame, version: int = p.PROTOCOL_VERSION, accepted: bool = True
) -> bytes:
    nonce = request.message()["nonce"]
    return p.encode_message(p.HELLO, 0, {"version": version, "accepted": accepted, "nonce": nonce})


async def test_stale_output_before_the_hello_reply_is_ignored(
    scripted: Start,
) -> None:
    async def agent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = p.FrameDecoder()
        hello = await read_frame(reader, decoder)
        # What a virtio-serial port may still hold from an earlier session:
        writer.write(
            b"\x00tail of an old frame"
            + p.encode_message(p.HELLO, 0, {"version": 1, "nonce": b"old"})
        )
        writer.write(p.encode_message(p.RESPONSE, 1, {"ok": True, "result": {"stale": True}}))
        writer.write(hello_reply(hello))
        request = await read_frame(reader, decoder)
        assert request.message()["op"] == "health" and request.message()["token"] == "tok"
        writer.write(
            p.encode_message(p.RESPONSE, request.stream, {"ok": True, "result": {"fresh": True}})
        )
        await writer.drain()
        await reader.read()

    endpoint = await scripted(agent)
    async with await AgentClient.connect(endpoint, "tok", timeout=5) as client:
        assert await client.call("health") == {"fresh": True}


async def test_an_agent_outside_the_host_range_is_refused(
    scripted: Start,
) -> None:
    async def old_agent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            hello_reply(
                await read_frame(reader, p.FrameDecoder()), version=p.MIN_COMPATIBLE_VERSION - 1
            )
        )
        await writer.drain()
        await reader.read()

    endpoint = await scripted(old_agent)
    with pytest.raises(AgentIncompatible, match=f"protocol {p.MIN_COMPATIBLE_VERSION - 1}"):
        await AgentClient.connect(endpoint, "tok", timeout=5)


async def test_in_flight_calls_fail_when_the_stream_ends(
    scripted: Start,
) -> None:
    async def dying_agent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = p.FrameDecoder()
        writer.write(hello_reply(await read_frame(reader, decoder)))
        await read_frame(reader, decoder)
        writer.close()

    endpoint = await scripted(dying_agent)
    async with await AgentClient.connect(endpoint, "tok", timeout=5) as client:
        with pytest.raises(AgentDisconnected):
            await client.call("health")


async def test_a_lost_hello_is_sent_again_and_only_the_latest_reply_counts(scripted: Start) -> None:
    hellos: list[bytes] = []

    async def forgetful_agent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = p.FrameDecoder()
        first = await read_frame(reader, decoder)  # lost, as in a hang-up noticed late
        hellos.append(first.message()["nonce"])
        second = await read_frame(reader, decoder)
        hellos.append(second.message()["nonce"])
        writer.write(hello_reply(first))  # a stale reply: must not complete the handshake
        writer.write(hello_reply(second))
        request = await read_frame(reader, decoder)
        writer.write(p.encode_message(p.RESPONSE, request.stream, {"ok": True, "result": {}}))
        await writer.drain()
        await reader.read()

    endpoint = await scripted(forgetful_agent)
    async with await AgentClient.connect(endpoint, "tok", timeout=10) as client:
        assert await client.call("health") == {}
    assert len(hellos) == 2 and hellos[0] != hellos[1]
