"""Byte streams to a guest agent, one per `AgentEndpoint` kind.

- `unix`: the Unix socket QEMU serves for the virtio-serial port. It accepts connections
  before the guest agent runs, so a connection proves nothing: readiness is the agent's reply.
- `tcp`: a loopback port forwarded into the guest (fallback/debug only).
- `vsock-uds`: Firecracker's hybrid vsock: connect to the Unix socket, send `CONNECT <port>\\n`,
  expect `OK <hostport>\\n`, then the stream belongs to the guest port.

Failures become `AgentUnavailable` naming the endpoint.
"""

from __future__ import annotations

import asyncio

from atelier.guest import protocol as p
from atelier.runtime.agent.endpoint import AgentEndpoint
from atelier.runtime.agent.errors import AgentUnavailable

STREAM_LIMIT = 4 << 20


def describe(endpoint: AgentEndpoint) -> str:
    if endpoint.kind == "tcp":
        return f"tcp:{endpoint.host or '127.0.0.1'}:{endpoint.port}"
    if endpoint.kind == "vsock-uds":
        return f"vsock-uds:{endpoint.path}:{endpoint.port or p.VSOCK_PORT}"
    return f"unix:{endpoint.path}"


async def open_stream(
    endpoint: AgentEndpoint, *, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the agent's byte stream; raises AgentUnavailable."""
    where = describe(endpoint)
    try:
        async with asyncio.timeout(timeout):
            if endpoint.kind == "tcp":
                if endpoint.port is None:
                    raise AgentUnavailable(f"agent endpoint {where} has no port", field="port")
                return await asyncio.open_connection(
                    endpoint.host or "127.0.0.1", endpoint.port, limit=STREAM_LIMIT
                )
            if endpoint.path is None:
                raise AgentUnavailable(f"agent endpoint {where} has no socket path", field="path")
            reader, writer = await asyncio.open_unix_connection(endpoint.path, limit=STREAM_LIMIT)
            if endpoint.kind == "vsock-uds":
                await _vsock_connect(reader, writer, endpoint.port or p.VSOCK_PORT, where)
            return reader, writer
    except TimeoutError:
        raise AgentUnavailable(
            f"cannot connect to the agent at {where} within {timeout:g} s",
            hint="is the VM running?",
        ) from None
    except OSError as exc:
        raise AgentUnavailable(
            f"cannot connect to the agent at {where}: {exc.strerror or exc}",
            hint="is the VM running? its control socket appears when the VMM starts",
        ) from exc


async def _vsock_connect(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int, where: str
) -> None:
    writer.write(f"CONNECT {port}\n".encode())
    await writer.drain()
    line = await reader.readline()
    if not line.startswith(b"OK "):
        writer.close()
        answer = line.decode(errors="replace").strip()
        raise AgentUnavailable(
            f"Firecracker refused CONNECT {port} at {where}: {answer!r}",
            hint="the guest agent is not listening on vsock yet",
        )
