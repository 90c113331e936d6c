"""`AgentConnector`: the connection half of `AgentClient` (dial, handshake, reconnect, calls).

One connector multiplexes any number of concurrent calls over one connection. When the
connection drops, calls in flight fail with `AgentDisconnected` and the next call dials again
with a fresh handshake, so callers simply retry. A QEMU virtio-serial socket accepts
connections before the guest runs, so readiness (`wait_ready`) means an answered `health`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Self

from atelier.guest import protocol as p
from atelier.runtime.agent.endpoint import AgentEndpoint
from atelier.runtime.agent.errors import AgentError, AgentTimeout, AgentUnavailable
from atelier.runtime.agent.mux import CallStream, Connection
from atelier.runtime.agent.transport import describe, open_stream

READY_ATTEMPT_S = 2.0
READY_PAUSE_S = 0.1
RECONNECT_PAUSE_S = 0.1  # lets a virtio-serial guest notice the hang-up before we return


class AgentConnector:
    """Connection management and raw calls; `AgentClient` adds the typed operations."""

    def __init__(
        self,
        endpoint: AgentEndpoint,
        token: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        versions: tuple[int, int] = (p.MIN_COMPATIBLE_VERSION, p.PROTOCOL_VERSION),
    ) -> None:
        self.endpoint = endpoint
        self.token = token
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.versions = versions
        self.name = describe(endpoint)
        self._conn: Connection | None = None
        self._lock: asyncio.Lock | None = None

    # connection management
    @classmethod
    async def connect(
        cls, endpoint: AgentEndpoint, token: str, timeout: float = 10.0, **kw: Any
    ) -> Self:
        """A connected client: AgentUnavailable if unreachable, AgentIncompatible on a mismatch."""
        client = cls(endpoint, token, connect_timeout=timeout, **kw)
        await client._connection()
        return client

    @classmethod
    async def wait_ready(
        cls, endpoint: AgentEndpoint, token: str, deadline: float, **kw: Any
    ) -> Self:
        """Retry until the agent answers `health` or `deadline` (a `time.monotonic()` value) passes.

        A connected socket proves nothing (QEMU accepts before the guest runs); only the
        agent's reply does. AgentIncompatible and AgentUnauthorized are raised at once.
        """
        last: AgentError | None = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AgentUnavailable(
                    f"agent at {describe(endpoint)} did not answer before the deadline: {last}",
                    hint="check the VM console log for boot errors",
                ) from last
            client = cls(endpoint, token, connect_timeout=min(READY_ATTEMPT_S, left), **kw)
            try:
                await client._connection()
                await client.call("health", timeout=min(READY_ATTEMPT_S, max(left, 0.1)))
                return client
            except AgentUnavailable as exc:
                last = exc
                await client.close()
            except BaseException:
                await client.close()
                raise
            await asyncio.sleep(min(READY_PAUSE_S, max(0.0, deadline - time.monotonic())))

    async def _connection(self) -> Connection:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            conn = self._conn
            if conn is not None and not conn.closed:
                return conn
            if conn is not None:
                self._conn = None
                await conn.close()
                pause = RECONNECT_PAUSE_S - (time.monotonic() - conn.lost_at)
                if pause > 0:
                    await asyncio.sleep(pause)
            self._conn = await self._dial()
            return self._conn

    async def _dial(self) -> Connection:
        reader, writer = await open_stream(self.endpoint, timeout=self.connect_timeout)
        conn = Connection(reader, writer, self.name)
        try:
            await conn.handshake(self.versions[0], self.versions[1], self.connect_timeout)
        except TimeoutError:
            await conn.close()
            raise AgentUnavailable(
                f"agent at {self.name} did not answer HELLO within {self.connect_timeout:g} s",
                hint="the guest may still be booting",
            ) from None
        except (ConnectionError, OSError) as exc:
            await conn.close()
            raise AgentUnavailable(f"agent at {self.name} dropped the connection: {exc}") from exc
        except BaseException:
            await conn.close()
            raise
        conn.start()
        return conn

    @property
    def agent_version(self) -> int | None:
        return self._conn.agent_version if self._conn is not None else None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # calls
    async def open_stream(self, op: str, args: dict[str, Any] | None = None) -> CallStream:
        """Start a call and return its stream (for operations this class does not wrap)."""
        conn = await self._connection()
        stream = conn.open(op, args or {}, self.token)
        await conn.drain()
        return stream

    async def call(
        self, op: str, args: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """A request/response operation; raises the AgentError the agent reported."""
        stream = await self.open_stream(op, args)
        return await self._result(stream, self.timeout if timeout is None else timeout)

    async def _result(self, stream: CallStream, timeout: float | None) -> dict[str, Any]:
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(stream.response)
        except TimeoutError:
            stream.cancel()
            raise AgentTimeout(
                f"{stream.op}: no answer from {self.name} within {timeout:g} s"
            ) from None
        except asyncio.CancelledError:
            stream.cancel()
            raise
