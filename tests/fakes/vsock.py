"""A fake of Firecracker's hybrid vsock, host side.

Firecracker listens on the vsock device's Unix socket; a host client connects, writes
`CONNECT <port>\\n` and, when a guest program listens on that vsock port, reads
`OK <host port>\\n` and then talks to the guest program over the same connection. Here the
"guest programs" are Unix sockets on the host (`backends`: port -> socket path), for
example the real guest agent serving on a Unix socket. Unknown ports or a malformed first
line close the connection, as Firecracker does.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from collections.abc import Mapping
from pathlib import Path

_CONNECT_RE = re.compile(rb"^CONNECT (\d{1,10})\n$")
MAX_COMMAND = 32
FIRST_HOST_PORT = 1 << 30  # Firecracker hands out host-side ports from 2^30 up


class FakeHybridVsock:
    """Serves `CONNECT <port>` on `uds_path` and relays to `backends[port]`."""

    def __init__(self, uds_path: Path, backends: Mapping[int, Path]) -> None:
        self.uds_path = uds_path
        self.backends = dict(backends)
        self.commands: list[bytes] = []  # every first line received, for assertions
        self.accepted: list[int] = []  # guest ports that were connected
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._next_port = FIRST_HOST_PORT
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Bind and listen (fails when the path exists, like Firecracker)."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(os.fspath(self.uds_path))
        listener.listen(16)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listener and every relayed connection; remove the socket file."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._open.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.uds_path.unlink()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        listener = self._listener
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.add(conn)
        line = _read_line(conn)
        self.commands.append(line)
        match = _CONNECT_RE.match(line)
        target = self.backends.get(int(match[1])) if match else None
        if match is None or target is None:
            self._close(conn)
            return
        guest = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            guest.connect(os.fspath(target))
        except OSError:
            self._close(conn)
            guest.close()
            return
        with self._lock:
            self._open.add(guest)
            host_port = self._next_port
            self._next_port += 1
        self.accepted.append(int(match[1]))
        conn.sendall(f"OK {host_port}\n".encode())
        back = threading.Thread(target=_pump, args=(guest, conn), daemon=True)
        back.start()
        _pump(conn, guest)
        back.join(timeout=5)
        self._close(conn)
        self._close(guest)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def _read_line(conn: socket.socket) -> bytes:
    # Byte by byte: anything after the newline belongs to the guest program.
    line = b""
    while not line.endswith(b"\n") and len(line) < MAX_COMMAND:
        try:
            chunk = conn.recv(1)
        except OSError:
            return line
        if not chunk:
            return line
        line += chunk
    return line


def _pump(source: socket.socket, sink: socket.socket) -> None:
    while True:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        if not data:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            return
        try:
            sink.sendall(data)
        except OSError:
            return
