"""uvicorn serving an ASGI app on a free loopback port inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackServer:
    """Serves `app` on 127.0.0.1:`port`; can be stopped and started again."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self._app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = uvicorn.Config(
            self._app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = server = uvicorn.Server(config)
        self._task = task = asyncio.create_task(server.serve())
        for _ in range(1500):
            if server.started:
                return
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        raise TimeoutError(f"uvicorn did not start on port {self.port}")

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 15)
        self._server = self._task = None

    async def bounce(self, pause_s: float = 1.0) -> None:
        """Drop every connection (as a manager restart would) and serve again."""
        await self.stop()
        await asyncio.sleep(pause_s)
        await self.start()


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[LoopbackServer]:
    """The app served until the block exits (also on failure)."""
    server = LoopbackServer(app)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
