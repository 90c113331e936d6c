"""The port link (virtio-serial semantics) on a FIFO pair: partial writes and hang-up resets.

A FIFO shows what a virtio-serial port shows: POLLHUP and EOF while the writer (the host) is
away, and short writes when the buffer is full. The loop runs in-process without signal
plumbing, so it does not disturb pytest's asyncio loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.guest.links import PortLink
from atelier.guest.loop import Loop


class RecordingSession:
    def __init__(self) -> None:
        self.data = b""
        self.fed: list[bytes] = []  # everything ever fed, across resets
        self.resets: list[str] = []

    def feed(self, data: bytes) -> None:
        self.data += data
        self.fed.append(data)

    def reset(self, reason: str) -> None:
        self.resets.append(reason)
        self.data = b""


@pytest.fixture
def port(tmp_path: Path) -> Iterator[tuple[Loop, PortLink, RecordingSession, Path, int]]:
    to_agent, from_agent = tmp_path / "in", tmp_path / "out"
    os.mkfifo(to_agent)
    os.mkfifo(from_agent)
    loop = Loop(signals=False)
    rfd = os.open(to_agent, os.O_RDONLY | os.O_NONBLOCK)
    wfd = os.open(from_agent, os.O_RDWR | os.O_NONBLOCK)
    host_reader = os.open(from_agent, os.O_RDONLY | os.O_NONBLOCK)
    link = PortLink(loop, rfd, wfd, "test-port")
    session = RecordingSession()
    link.session = session  # type: ignore[assignment]  # duck-typed stand-in for Session
    try:
        yield loop, link, session, to_agent, host_reader
    finally:
        link.close()
        os.close(host_reader)


def spin(loop: Loop, times: int = 5) -> None:
    for _ in range(times):
        loop.run_once(0.01)


def test_large_sends_survive_partial_writes(
    port: tuple[Loop, PortLink, RecordingSession, Path, int],
) -> None:
    loop, link, _, _, host_reader = port
    payload = os.urandom(1 << 20)  # 16 FIFO buffers' worth
    link.send(payload)
    assert link.pending > 0  # the FIFO took only part of it
    received = bytearray()
    while len(received) < len(payload):
        try:
            received += os.read(host_reader, 4096)  # a host reading 4 KiB at a time
        except BlockingIOError:
            pass
        loop.run_once(0)
    assert bytes(received) == payload and link.pending == 0


def test_hang_up_resets_the_session_until_the_host_returns(
    port: tuple[Loop, PortLink, RecordingSession, Path, int],
) -> None:
    loop, link, session, to_agent, _ = port
    host = os.open(to_agent, os.O_WRONLY | os.O_NONBLOCK)
    os.write(host, b"first session")
    spin(loop)
    assert session.data == b"first session"
    os.close(host)  # the host goes away
    spin(loop)
    assert link.hung and session.resets == ["host disconnected"] and session.data == b""
    link.send(b"for nobody")  # output while the host is away is dropped
    assert link.pending == 0
    host = os.open(to_agent, os.O_WRONLY | os.O_NONBLOCK)
    os.write(host, b"second session")
    for _ in range(50):
        loop.run_once(0.02)
        if session.data:
            break
    os.close(host)
    assert session.data == b"second session" and not link.hung


def test_a_reconnect_faster_than_the_hang_up_keeps_the_new_hosts_bytes(
    port: tuple[Loop, PortLink, RecordingSession, Path, int],
) -> None:
    # The old host leaves and the new one has already written before the link notices:
    # its bytes (its HELLO, in real life) must survive the reset.
    loop, _link, session, to_agent, _ = port
    old = os.open(to_agent, os.O_WRONLY | os.O_NONBLOCK)
    spin(loop)
    new = os.open(to_agent, os.O_WRONLY | os.O_NONBLOCK)
    os.close(old)
    os.write(new, b"HELLO from the new host")
    spin(loop)
    os.close(new)
    spin(loop)
    assert b"HELLO from the new host" in b"".join([session.data, *session.fed])
