"""Transports: Firecracker's hybrid vsock handshake and unreachable endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atelier.runtime.agent import AgentEndpoint, AgentUnavailable
from atelier.runtime.agent.transport import open_stream


@pytest.fixture
async def fake_firecracker(tmp_path: Path) -> AsyncIterator[tuple[Path, list[bytes]]]:
    """A hybrid vsock UDS: answers `CONNECT 1024` with OK, refuses other ports, then echoes."""
    path = tmp_path / "vsock.sock"
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        seen.append(line)
        if line != b"CONNECT 1024\n":
            writer.close()
            return
        writer.write(b"OK 1073741824\n")
        while data := await reader.read(1024):
            writer.write(data)
        writer.close()

    server = await asyncio.start_unix_server(serve, path=str(path))
    try:
        yield path, seen
    finally:
        server.close()
        await server.wait_closed()


async def test_vsock_connect_handshake(fake_firecracker: tuple[Path, list[bytes]]) -> None:
    path, seen = fake_firecracker
    reader, writer = await open_stream(
        AgentEndpoint(kind="vsock-uds", path=path, port=1024), timeout=5
    )
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    writer.close()
    assert seen == [b"CONNECT 1024\n"]


async def test_vsock_refusal_is_unavailable(fake_firecracker: tuple[Path, list[bytes]]) -> None:
    path, _ = fake_firecracker
    with pytest.raises(AgentUnavailable, match="CONNECT 2048"):
        await open_stream(AgentEndpoint(kind="vsock-uds", path=path, port=2048), timeout=5)


async def test_missing_socket_is_unavailable_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(AgentUnavailable) as info:
        await open_stream(AgentEndpoint(kind="unix", path=tmp_path / "nope.sock"), timeout=5)
    assert str(tmp_path / "nope.sock") in info.value.message and info.value.hint


async def test_endpoint_without_a_port_is_refused() -> None:
    with pytest.raises(AgentUnavailable, match="port"):
        await open_stream(AgentEndpoint(kind="tcp"), timeout=5)
