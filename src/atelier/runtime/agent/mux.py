"""One multiplexed connection to an agent: handshake, frame reader, streams, flow control.

A `Connection` owns a byte stream. `handshake()` sends HELLO with a random nonce and ignores
everything until the reply carrying that nonce (a virtio-serial port may still hold output of
an earlier session). Then a reader task routes frames to `CallStream`s by stream id; stream
ids start at a random value so stale frames never match a new call. DATA the host sends waits
for the agent's credit; DATA it receives is granted back only as the consumer takes it, so
neither side buffers more than a window per stream. When the stream of bytes ends, every
call in flight fails with `AgentDisconnected`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

from atelier.guest import protocol as p
from atelier.runtime.agent.errors import (
    AgentDisconnected,
    AgentError,
    AgentIncompatible,
    AgentProtocolError,
    AgentUnavailable,
    from_remote,
)

log = logging.getLogger(__name__)

READ_SIZE = 256 << 10
GRANT_BATCH = p.INITIAL_WINDOW // 4
HELLO_RETRY_S = 1.0

# What a stream's queue carries: (kind, channel, payload).
EVENT, DATA, EOF, END = "event", "data", "eof", "end"
Item = tuple[str, int, Any]


class CallStream:
    """One request: its queue of events/output, its credit and its final response."""

    def __init__(self, conn: Connection, sid: int, op: str) -> None:
        self.conn = conn
        self.id = sid
        self.op = op
        self.items: asyncio.Queue[Item] = asyncio.Queue()
        self.response: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.response.add_done_callback(_retrieve)
        self.credit = {p.CH_IN: p.INITIAL_WINDOW}
        self._credit_changed = asyncio.Event()
        self._ungranted: dict[int, int] = {}

    @property
    def finished(self) -> bool:
        return self.response.done()

    def deliver(self, frame: p.Frame) -> None:
        if frame.type == p.DATA:
            self.items.put_nowait((DATA, frame.flags, frame.payload))
        elif frame.type == p.EOF:
            self.items.put_nowait((EOF, frame.flags, None))
        elif frame.type == p.EVENT:
            self.items.put_nowait((EVENT, 0, frame.message()))
        elif frame.type == p.WINDOW:
            self.credit[frame.flags] = self.credit.get(frame.flags, 0) + p.window_increment(frame)
            self._credit_changed.set()
        elif frame.type == p.RESPONSE:
            body = frame.message()
            if body.get("ok"):
                self._finish(result=body.get("result") or {})
            else:
                self._finish(error=from_remote(self.op, body.get("error")))

    def _finish(
        self, result: dict[str, Any] | None = None, error: AgentError | None = None
    ) -> None:
        if self.response.done():
            return
        if error is not None:
            self.response.set_exception(error)
        else:
            self.response.set_result(result or {})
        self.items.put_nowait((END, 0, None))
        self._credit_changed.set()
        self.conn.streams.pop(self.id, None)

    def fail(self, error: AgentError) -> None:
        self._finish(error=error)

    async def next_item(self) -> Item:
        return await self.items.get()

    def consumed(self, channel: int, n: int) -> None:
        """The consumer took `n` bytes of `channel`: give the agent its credit back."""
        total = self._ungranted.get(channel, 0) + n
        if total >= GRANT_BATCH and not self.finished:
            self.conn.write(p.encode_window(self.id, channel, total))
            total = 0
        self._ungranted[channel] = total

    async def send(self, channel: int, data: bytes) -> None:
        """DATA to the agent, waiting for credit; raises the call's error if it ended."""
        view = memoryview(data)
        while view:
            while self.credit.get(channel, 0) <= 0:
                if self.finished:
                    self.response.result()  # raises the call's error
                    raise AgentDisconnected(f"{self.op}: the call ended before its input was sent")
                self._credit_changed.clear()
                await self._credit_changed.wait()
            n = min(len(view), self.credit[channel], p.MAX_DATA_CHUNK)
            self.credit[channel] -= n
            self.conn.write(p.encode_frame(p.DATA, self.id, bytes(view[:n]), channel))
            view = view[n:]
            await self.conn.drain()

    def send_eof(self, channel: int) -> None:
        if not self.finished:
            self.conn.write(p.encode_frame(p.EOF, self.id, b"", channel))

    def send_event(self, message: dict[str, Any]) -> None:
        if not self.finished:
            self.conn.write(p.encode_message(p.EVENT, self.id, message))

    def cancel(self) -> None:
        """Abandon the call: the agent stops its work; the caller sees no more items."""
        if not self.finished:
            self.conn.write(p.encode_frame(p.CANCEL, self.id))
            self._finish(error=AgentError(f"{self.op}: cancelled"))


def _retrieve(future: asyncio.Future[dict[str, Any]]) -> None:
    if not future.cancelled():
        future.exception()  # mark as retrieved: callers may legitimately never await it


class Connection:
    """A handshaken, multiplexed byte stream to one agent."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.name = name
        self.decoder = p.FrameDecoder()
        self.streams: dict[int, CallStream] = {}
        self.agent_version = 0
        self.closed = False
        self.close_reason = ""
        self.lost_at = 0.0
        self._next_id = int.from_bytes(os.urandom(3), "big") + 1
        self._reader_task: asyncio.Task[None] | None = None

    async def handshake(self, lowest: int, highest: int, timeout: float) -> dict[str, Any]:
        """Send HELLO until the reply carrying the latest nonce arrives (TimeoutError if never).

        HELLO is repeated with a new nonce after 1 s, 2 s, 4 s...: on a virtio-serial port a
        HELLO can be lost in a hang-up the guest noticed late. Only the latest nonce counts,
        because every HELLO the agent processes starts a new session.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        retry = HELLO_RETRY_S
        nonce = await self._send_hello(lowest, highest)
        resend_at = loop.time() + retry
        while True:
            frame = self.decoder.next_frame()
            if frame is None:
                now = loop.time()
                if now >= deadline:
                    raise TimeoutError
                if now >= resend_at:
                    nonce = await self._send_hello(lowest, highest)
                    retry *= 2
                    resend_at = now + retry
                try:
                    data = await asyncio.wait_for(
                        self.reader.read(READ_SIZE), min(deadline, resend_at) - now
                    )
                except TimeoutError:
                    continue
                if not data:
                    raise AgentUnavailable(
                        f"agent at {self.name} closed the connection during the handshake"
                    )
                self.decoder.feed(data)
                continue
            if frame.type != p.HELLO:
                continue  # output of an earlier session
            try:
                reply = frame.message()
            except p.ProtocolError:
                continue
            if reply.get("nonce") == nonce:
                return self._check_hello(reply, lowest, highest)

    async def _send_hello(self, lowest: int, highest: int) -> bytes:
        nonce = os.urandom(8)
        hello = {"min": lowest, "max": highest, "nonce": nonce, "client": "atelier-host"}
        self.write(p.encode_message(p.HELLO, 0, hello))
        await self.drain()
        return nonce

    def _check_hello(self, reply: dict[str, Any], lowest: int, highest: int) -> dict[str, Any]:
        version = reply.get("version")
        if not isinstance(version, int):
            raise AgentProtocolError(f"agent at {self.name} sent a HELLO without a version")
        if not reply.get("accepted") or not p.compatible(version, lowest, highest):
            reason = reply.get("error") or f"this host accepts {lowest}..{highest}"
            raise AgentIncompatible(
                f"agent at {self.name} speaks protocol {version}: {reason}",
                hint="restart the VM so it boots the agent shipped with this Atelier",
            )
        self.agent_version = version
        return reply

    def start(self) -> None:
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop())

    async def _read_loop(self) -> None:
        reason = "agent closed the connection"
        try:
            while True:
                self._dispatch_buffered()
                data = await self.reader.read(READ_SIZE)
                if not data:
                    break
                self.decoder.feed(data)
        except (OSError, asyncio.IncompleteReadError) as exc:
            reason = f"connection error: {exc}"
        except p.ProtocolError as exc:
            reason = f"protocol error: {exc}"
            log.warning("agent %s: %s", self.name, exc)
        except asyncio.CancelledError:
            self._lost("connection closed by the host")
            raise
        self._lost(reason)

    def _dispatch_buffered(self) -> None:
        while True:
            try:
                frame = self.decoder.next_frame()
            except p.FrameTooLarge as exc:
                log.warning("agent %s: %s", self.name, exc)
                stream = self.streams.get(exc.stream)
                if stream is not None:
                    stream.fail(AgentProtocolError(f"{stream.op}: {exc}"))
                continue
            if frame is None:
                return
            stream = self.streams.get(frame.stream)
            if stream is not None:
                stream.deliver(frame)

    def _lost(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self.lost_at = time.monotonic()
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            stream.fail(
                AgentDisconnected(f"{stream.op}: {reason} ({self.name})", hint="retry the call")
            )
        with contextlib.suppress(Exception):
            self.writer.close()

    def open(self, op: str, args: dict[str, Any], token: str) -> CallStream:
        if self.closed:
            raise AgentDisconnected(f"{op}: {self.close_reason} ({self.name})")
        sid = self._next_id
        self._next_id = self._next_id % 0x7FFFFFFF + 1
        stream = CallStream(self, sid, op)
        self.streams[sid] = stream
        self.write(p.encode_message(p.REQUEST, sid, {"op": op, "token": token, "args": args}))
        return stream

    def write(self, frame: bytes) -> None:
        if not self.closed:
            self.writer.write(frame)

    async def drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            self._lost(f"write failed: {exc}")

    async def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        self._lost("connection closed by the host")
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
