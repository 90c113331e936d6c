"""The real guest agent run on the host, and an imitation of QEMU's virtio-serial chardev.

`start_agent()` runs `atelier.guest.agent` exactly as the guest does (`python3 -I -S`, stdlib
only, this checkout's `src` on sys.path) serving a Unix socket or a FIFO pair. `SerialRelay`
plays QEMU: a Unix socket the host client connects to (one client at a time), relayed in
4 KiB pieces to the agent's FIFO pair; closing the client hangs up the agent's side (POLLHUP),
and agent output written while no client is connected waits in the FIFO for the next one,
like QEMU throttling the port. `drop()` cuts the client off mid-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from atelier.runtime.agent.endpoint import AgentEndpoint
from atelier.runtime.host import proc

SRC = Path(__file__).resolve().parents[2] / "src"
LAUNCHER = (
    f"import sys; sys.path.insert(0, {str(SRC)!r}); from atelier.guest.agent import main; main()"
)
CHUNK = 4096


class AgentProcess:
    """A running host-side agent; `endpoint` is what a client connects to."""

    def __init__(
        self, process: asyncio.subprocess.Process, endpoint: AgentEndpoint, log: Path
    ) -> None:
        self.process = process
        self.endpoint = endpoint
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self) -> None:
        """SIGTERM (the agent ends what it started), SIGKILL if needed, then any leftovers."""
        descendants = _descendants(self.process.pid)
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # anything the agent left in its group
        for pid, started in descendants.items():  # commands run in their own sessions
            if _stat(pid)[1] == started:  # still the same process, not a reused pid
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


def _stat(pid: int) -> tuple[int, int]:
    """(parent pid, start time) of a process, or (-1, -1) when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return -1, -1


def _descendants(root: int) -> dict[int, int]:
    """Every process below `root` with its start time (children run in their own sessions)."""
    stats = {int(e): _stat(int(e)) for e in os.listdir("/proc") if e.isdigit()}
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, started) in stats.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                frontier.append(pid)
    return found


async def spawn_agent(workdir: Path, token: str, *args: str) -> asyncio.subprocess.Process:
    log = (workdir / "agent.log").open("ab")
    try:
        return await proc.spawn(
            [sys.executable, "-I", "-S", "-c", LAUNCHER, *(["--token", token] if token else []),
             "--log-dir", str(workdir / "logs"),
             "--runtime-services-dir", str(workdir / "services"),
             "--services-dir", str(workdir / "services"), *args],
            stdout=log, stderr=log,
        )  # fmt: skip
    finally:
        log.close()


async def wait_for_path(path: Path, process: asyncio.subprocess.Process) -> None:
    for _ in range(400):
        if os.access(path, os.F_OK):
            return
        if process.returncode is not None:
            raise RuntimeError(f"agent exited with {process.returncode} before creating {path}")
        await asyncio.sleep(0.025)
    raise RuntimeError(f"agent did not create {path}")


@contextlib.asynccontextmanager
async def unix_agent(workdir: Path, token: str, *args: str) -> AsyncIterator[AgentProcess]:
    """An agent serving a Unix socket (one connection per session, like vsock or TCP)."""
    sock = workdir / "agent.sock"
    process = await spawn_agent(workdir, token, "--serve-unix", str(sock), *args)
    agent = AgentProcess(process, AgentEndpoint(kind="unix", path=sock), workdir / "agent.log")
    try:
        await wait_for_path(sock, process)
        yield agent
    finally:
        await agent.stop()


@contextlib.asynccontextmanager
async def serial_agent(
    workdir: Path, token: str, *args: str
) -> AsyncIterator[tuple[AgentProcess, SerialRelay]]:
    """An agent on a FIFO pair behind a `SerialRelay` (the virtio-serial imitation)."""
    to_agent, from_agent = workdir / "h2g.fifo", workdir / "g2h.fifo"
    os.mkfifo(to_agent)
    os.mkfifo(from_agent)
    process = await spawn_agent(workdir, token, "--serve-fifo", f"{to_agent},{from_agent}", *args)
    relay = SerialRelay(workdir / "serial.sock", to_agent, from_agent)
    agent = AgentProcess(
        process, AgentEndpoint(kind="unix", path=relay.path), workdir / "agent.log"
    )
    try:
        await relay.start()
        yield agent, relay
    finally:
        await relay.stop()
        await agent.stop()


class SerialRelay:
    """QEMU's side of a virtio-serial port, for an agent serving `--serve-fifo IN,OUT`."""

    def __init__(self, path: Path, to_agent: Path, from_agent: Path) -> None:
        self.path = path
        self.to_agent = to_agent
        self.from_agent = from_agent
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._read_fd = -1
        self._client: asyncio.StreamWriter | None = None
        self._one_at_a_time = asyncio.Lock()

    async def start(self) -> None:
        self._read_fd = os.open(self.from_agent, os.O_RDONLY | os.O_NONBLOCK)
        self._server = await asyncio.start_unix_server(self._on_client, path=str(self.path))

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._one_at_a_time:  # QEMU serves one client; the next waits in the backlog
            if self._read_fd < 0:
                writer.close()
                return
            self.connections += 1
            self._client = writer
            write_fd = await self._open_writer()
            loop = asyncio.get_running_loop()
            loop.add_reader(self._read_fd, self._agent_output, writer)
            try:
                while data := await reader.read(CHUNK):
                    await _write_all(write_fd, data)
            except (ConnectionError, OSError):
                pass
            finally:
                if self._read_fd >= 0:
                    loop.remove_reader(self._read_fd)
                os.close(write_fd)  # the agent now sees POLLHUP
                self._client = None
                writer.close()

    async def _open_writer(self) -> int:
        for _ in range(400):
            try:
                return os.open(self.to_agent, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO until the agent has opened its end
                await asyncio.sleep(0.025)
        raise RuntimeError("the agent never opened its FIFO")

    def _agent_output(self, writer: asyncio.StreamWriter) -> None:
        try:
            data = os.read(self._read_fd, CHUNK)
        except BlockingIOError:
            return
        if data and not writer.is_closing():
            writer.write(data)

    def drop(self) -> None:
        """Cut the current client off, like a host process dying mid-request."""
        if self._client is not None:
            transport = self._client.transport
            transport.abort()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self.drop()
            await self._server.wait_closed()
        if self._read_fd >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._read_fd)
            os.close(self._read_fd)
            self._read_fd = -1


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await asyncio.sleep(0.001)
