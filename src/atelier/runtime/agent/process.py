"""Handles for long-running agent streams: a command (`ExecProcess`) and a terminal (`PtyHandle`).

Both read output as it is produced (async iteration), write input under the agent's credit and
give the agent credit back only as output is consumed, so a fast producer in the guest is
throttled instead of filling memory on either side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from atelier.guest import protocol as p
from atelier.runtime.agent.errors import AgentError
from atelier.runtime.agent.models import ExecResult
from atelier.runtime.agent.mux import DATA, END, EOF, EVENT, CallStream

CHANNELS = {p.CH_OUT: "stdout", p.CH_ERR: "stderr"}


class ExecProcess:
    """A command running in the guest.

    `async for name, data in proc` yields ("stdout" | "stderr", bytes) as the command writes;
    `wait()` returns the result (output that was not iterated is discarded).
    """

    def __init__(self, stream: CallStream, pid: int) -> None:
        self._stream = stream
        self.pid = pid

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        return self._output()

    async def _output(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            kind, channel, payload = await self._stream.next_item()
            if kind == END:
                self._stream.items.put_nowait((END, 0, None))  # later readers see the end too
                return
            if kind == DATA:
                self._stream.consumed(channel, len(payload))
                yield CHANNELS.get(channel, str(channel)), payload

    async def write(self, data: bytes) -> None:
        """Send stdin (the exec must have been started with stdin=True)."""
        await self._stream.send(p.CH_IN, data)

    def close_stdin(self) -> None:
        self._stream.send_eof(p.CH_IN)

    def signal(self, signum: int | str) -> None:
        """Signal the command's whole process group."""
        self._stream.send_event({"signal": signum})

    def kill(self) -> None:
        self.signal("KILL")

    def cancel(self) -> None:
        """Abandon the command: the agent kills its process tree."""
        self._stream.cancel()

    async def wait(self) -> ExecResult:
        async for _ in self:
            pass
        r = await self._stream.response
        return ExecResult(
            exit_code=r.get("exit_code"),
            signal=r.get("signal"),
            timed_out=bool(r.get("timed_out")),
            pid=int(r.get("pid", self.pid)),
            duration_s=float(r.get("duration_s", 0.0)),
        )


async def first_event(stream: CallStream) -> dict[str, Any]:
    """The first EVENT of a stream (e.g. the pid), or the call's error."""
    while True:
        kind, _, payload = await stream.next_item()
        if kind == EVENT:
            assert isinstance(payload, dict)
            return payload
        if kind == END:
            await stream.response  # raises the call's error
            raise AgentError(f"{stream.op}: the agent answered without starting")


class PtyHandle:
    """One attachment to a PTY session; detaching leaves the session running."""

    def __init__(self, stream: CallStream, info: dict[str, Any]) -> None:
        self._stream = stream
        self.session: str = str(info.get("session", ""))
        self.pid = int(info.get("pid", 0))
        self.cols = int(info.get("cols", 0))
        self.rows = int(info.get("rows", 0))
        self.exit: dict[str, Any] | None = None

    async def read(self) -> bytes:
        """The next output chunk; b"" once the session has exited (see `exit`) or detached."""
        while True:
            kind, channel, payload = await self._stream.next_item()
            if kind == DATA:
                self._stream.consumed(channel, len(payload))
                return bytes(payload)
            if kind == EVENT and isinstance(payload, dict) and "exit" in payload:
                self.exit = payload["exit"]
            if kind == END:
                self._stream.items.put_nowait((END, 0, None))
                return b""
            if kind == EOF:
                continue

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read():
            yield chunk

    async def write(self, data: bytes) -> None:
        await self._stream.send(p.CH_IN, data)

    def resize(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        self._stream.send_event({"resize": [cols, rows]})

    def signal(self, signum: int | str) -> None:
        self._stream.send_event({"signal": signum})

    def detach(self) -> None:
        """Stop watching; the session keeps running and can be attached again."""
        self._stream.cancel()

    @property
    def attached(self) -> bool:
        return not self._stream.finished

    async def wait(self) -> dict[str, Any]:
        """Wait for the session to exit: {"exit_code", "signal", "session"}."""
        while await self.read():
            pass
        return await self._stream.response
