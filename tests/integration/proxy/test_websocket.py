"""WebSockets (code-server's terminal and explorer) pass forward-auth and the strip step."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve

from atelier.runtime.host.names import new_id
from atelier.runtime.network.base import Endpoint
from tests.integration.proxy.harness import Stack, retry_tls


async def _echo(connection: ServerConnection) -> None:
    assert connection.request is not None
    await connection.send(json.dumps(dict(connection.request.headers.raw_items())))
    async for message in connection:
        text = message if isinstance(message, str) else message.decode()
        await connection.send(f"echo:{text}")


@pytest.fixture
async def ws_upstream() -> AsyncIterator[Server]:
    server = await serve(_echo, "127.0.0.1", 0)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


async def test_websocket_through_forward_auth(stack: Stack, ws_upstream: Server) -> None:
    owner = await stack.manager.auth.create_user("owner")
    _, token = await stack.manager.auth.create_token(owner.id, "cli")
    port = next(iter(ws_upstream.sockets)).getsockname()[1]
    sid = new_id()
    endpoint = Endpoint("tcp", "127.0.0.1", port)
    stack.directory.add(sid, owner.id, services={"code": endpoint})
    await stack.proxy.sandbox_running(sid, {"code": endpoint})
    host = f"sandbox-{sid}.atelier.test"
    async with await stack.client() as client:  # waits for the certificate
        await retry_tls(lambda: client.get(stack.url(host, "/"), headers={"Authorization": "x"}))
    async with connect(
        f"wss://{host}:{stack.port}/terminal",
        host="127.0.0.1",
        port=stack.port,
        ssl=stack.ssl_context(),
        server_hostname=host,
        additional_headers={
            "Authorization": f"Bearer {token}",
            "Cookie": "atelier_session=secret; app=1",
        },
    ) as ws:
        headers = {k.lower(): v for k, v in json.loads(str(await ws.recv())).items()}
        await ws.send("hi")
        assert await ws.recv() == "echo:hi"
    assert "authorization" not in headers
    assert headers["cookie"] == "app=1"
    assert headers["upgrade"].lower() == "websocket"
