"""Byte streams between the agent and the host: sockets, listeners and the virtio-serial port.

A link moves bytes and nothing else; its `session` (see `session.py`) speaks the protocol.
Socket links (Unix, TCP, vsock) have one connection per host session and end on EOF. A port
link (virtio-serial, or the FIFO pair tests use to imitate one) never ends: while the host is
disconnected the port polls POLLHUP and reads EOF, so the link resets its session (dropping the
partial frame and the handshake), drops queued output and polls until the host is back. Bytes
still buffered in the port are kept: after a fast reconnect they include the new host's HELLO,
and stale frames before it are harmless because no request runs before a fresh HELLO. Writes
are non-blocking and looped (a port takes partial writes and blocks while the host is away).
`socket` is imported lazily: the virtio path does not need it.
"""

from __future__ import annotations

import errno
import os
import select

from atelier.guest import log
from atelier.guest.loop import ERR, HUP, IN, OUT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from socket import socket

    from atelier.guest.loop import Loop, Timer
    from atelier.guest.session import Session

READ_SIZE = 256 << 10
MAX_READS_PER_WAKEUP = 16  # fairness between links and child pipes
MAX_PENDING = 64 << 20  # a host that stops reading loses its link rather than our memory
HUNG_POLL_S = 0.05


class Link:
    """Common output queue and session plumbing."""

    def __init__(self, loop: Loop, name: str) -> None:
        self.loop = loop
        self.name = name
        self.session: Session | None = None
        self.pending = 0
        self.closed = False
        self._out: list[bytes] = []
        self._out_pos = 0

    def send(self, data: bytes) -> None:
        if self.closed or not self._can_queue():
            return
        self._out.append(data)
        self.pending += len(data)
        if self.pending > MAX_PENDING:
            log.warn(f"{self.name}: host is not reading ({self.pending} bytes queued); resetting")
            self._lost("output queue overflow")
            return
        if len(self._out) == 1:
            self._flush()

    def _can_queue(self) -> bool:
        return True

    def _flush(self) -> None:
        while self._out:
            chunk = self._out[0]
            try:
                n = self._write(memoryview(chunk)[self._out_pos :])
            except BlockingIOError:
                n = 0
            except OSError as exc:
                self._lost(f"write failed: {exc.strerror}")
                return
            self.pending -= n
            self._out_pos += n
            if self._out_pos < len(chunk):
                self._want_write(True)
                return
            self._out.pop(0)
            self._out_pos = 0
        self._want_write(False)

    def _drop_output(self) -> None:
        self._out.clear()
        self._out_pos = 0
        self.pending = 0

    def _write(self, data: memoryview) -> int:
        raise NotImplementedError

    def _want_write(self, on: bool) -> None:
        raise NotImplementedError

    def _lost(self, reason: str) -> None:
        raise NotImplementedError


class SocketLink(Link):
    """One accepted stream connection; ends for good on EOF or error."""

    def __init__(
        self, loop: Loop, sock: socket, name: str, on_close: Callable[[Link], None]
    ) -> None:
        super().__init__(loop, name)
        self.sock = sock
        self.fd = sock.fileno()
        self._on_close = on_close
        sock.setblocking(False)
        loop.watch(self.fd, IN, self._on_events)

    def _on_events(self, revents: int) -> None:
        if revents & OUT:
            self._flush()
        if revents & (IN | HUP | ERR) and not self.closed:
            self._read()

    def _read(self) -> None:
        for _ in range(MAX_READS_PER_WAKEUP):
            try:
                data = self.sock.recv(READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                self._lost(f"read failed: {exc.strerror}")
                return
            if not data:
                self._lost("host closed the connection")
                return
            if self.session is not None:
                self.session.feed(data)
            if self.closed:
                return

    def _write(self, data: memoryview) -> int:
        return self.sock.send(data)

    def _want_write(self, on: bool) -> None:
        if not self.closed:
            self.loop.modify(self.fd, IN | OUT if on else IN)

    def _lost(self, reason: str) -> None:
        self.close(reason)

    def close(self, reason: str = "closed by the agent") -> None:
        if self.closed:
            return
        self.closed = True
        self._drop_output()
        self.loop.unwatch(self.fd)
        try:
            self.sock.shutdown(2)  # also ends copies held by forked workers
        except OSError:
            pass
        self.sock.close()
        if self.session is not None:
            self.session.reset(reason)
        self._on_close(self)


class PortLink(Link):
    """A virtio-serial port (or a test imitation): one persistent byte stream.

    `rfd` and `wfd` are the same descriptor for a real port; tests pass the two ends of a FIFO
    pair, which show the same POLLHUP-while-disconnected behaviour.
    """

    def __init__(self, loop: Loop, rfd: int, wfd: int, name: str) -> None:
        super().__init__(loop, name)
        self.rfd = rfd
        self.wfd = wfd
        self.hung = False
        self._timer: Timer | None = None
        self._writing = False
        os.set_blocking(rfd, False)
        os.set_blocking(wfd, False)
        self._arm()

    def _arm(self) -> None:
        if self.rfd == self.wfd:
            self.loop.watch(self.rfd, IN | (OUT if self._writing else 0), self._on_events)
        else:
            self.loop.watch(self.rfd, IN, self._on_events)
            if self._writing:
                self.loop.watch(self.wfd, OUT, self._on_events)
            else:
                self.loop.unwatch(self.wfd)

    def _can_queue(self) -> bool:
        return not self.hung  # output for a vanished host is worthless

    def _on_events(self, revents: int) -> None:
        if revents & (HUP | ERR):
            self._lost("host disconnected")
            return
        if revents & OUT:
            self._flush()
        if revents & IN and not self.hung:
            self._read()

    def _read(self) -> None:
        for _ in range(MAX_READS_PER_WAKEUP):
            try:
                data = os.read(self.rfd, READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                self._lost(f"read failed: {exc.strerror}")
                return
            if not data:
                self._lost("host disconnected")
                return
            if self.session is not None:
                self.session.feed(data)
            if self.hung:
                return

    def _write(self, data: memoryview) -> int:
        try:
            return os.write(self.wfd, data)
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                raise BlockingIOError from None
            raise

    def _want_write(self, on: bool) -> None:
        if on != self._writing and not self.hung:
            self._writing = on
            self._arm()

    def _lost(self, reason: str) -> None:
        if self.hung:
            return
        self.hung = True
        self._drop_output()
        self._writing = False
        self.loop.unwatch(self.rfd)
        self.loop.unwatch(self.wfd)
        log.info(f"{self.name}: {reason}; waiting for the host")
        if self.session is not None:
            self.session.reset(reason)
        self._timer = self.loop.call_later(HUNG_POLL_S, self._check)

    def _check(self) -> None:
        poller = select.poll()
        poller.register(self.rfd, IN)
        revents = 0
        for _, ev in poller.poll(0):
            revents |= ev
        if revents & HUP:
            self._timer = self.loop.call_later(HUNG_POLL_S, self._check)
            return
        self.hung = False
        log.info(f"{self.name}: host connected")
        self._arm()

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        self.loop.unwatch(self.rfd)
        self.loop.unwatch(self.wfd)
        os.close(self.rfd)
        if self.wfd != self.rfd:
            os.close(self.wfd)


class Listener:
    """A listening socket that turns each accepted connection into a `SocketLink`."""

    def __init__(
        self, loop: Loop, sock: socket, name: str, on_link: Callable[[SocketLink], None]
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.name = name
        self.links: set[Link] = set()
        self._on_link = on_link
        self._count = 0
        sock.setblocking(False)
        loop.watch(sock.fileno(), IN, self._accept)

    def _accept(self, _revents: int) -> None:
        while True:
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warn(f"{self.name}: accept failed: {exc}")
                return
            self._count += 1
            link = SocketLink(self.loop, conn, f"{self.name}#{self._count}", self.links.discard)
            self.links.add(link)
            self._on_link(link)

    def close(self) -> None:
        self.loop.unwatch(self.sock.fileno())
        self.sock.close()
        for link in list(self.links):
            if isinstance(link, SocketLink):
                link.close("agent shutting down")


def listen_unix(path: str) -> socket:
    import socket as _socket

    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    # Bind and listen under a temporary name, then rename: whoever sees the path can connect.
    tmp = f"{path}.{os.getpid()}.tmp"
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.bind(tmp)
    os.chmod(tmp, 0o600)
    sock.listen(16)
    os.rename(tmp, path)
    return sock


def listen_tcp(host: str, port: int) -> socket:
    import socket as _socket

    sock = _socket.socket(_socket.AF_INET6 if ":" in host else _socket.AF_INET, _socket.SOCK_STREAM)
    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(16)
    return sock


def listen_vsock(port: int) -> socket | None:
    """A vsock listener, or None when the guest has no vsock transport."""
    import socket as _socket

    try:
        sock = _socket.socket(_socket.AF_VSOCK, _socket.SOCK_STREAM)
    except (AttributeError, OSError):
        return None
    try:
        sock.bind((_socket.VMADDR_CID_ANY, port))
        sock.listen(16)
    except OSError:
        sock.close()
        return None
    return sock


def find_port(
    name: str, sys_root: str = "/sys/class/virtio-ports", dev_root: str = "/dev"
) -> str | None:
    """The /dev node of the virtio-serial port called `name`, created if devtmpfs lacks it."""
    try:
        entries = sorted(os.listdir(sys_root))
    except OSError:
        return None
    for entry in entries:
        try:
            with open(f"{sys_root}/{entry}/name") as fh:
                if fh.read().strip() != name:
                    continue
            node = f"{dev_root}/{entry}"
            if not os.access(node, os.F_OK):
                with open(f"{sys_root}/{entry}/dev") as fh:
                    major, minor = (int(x) for x in fh.read().strip().split(":"))
                os.mknod(node, 0o600 | 0o020000, os.makedev(major, minor))
            return node
        except (OSError, ValueError) as exc:
            log.warn(f"virtio port {entry}: {exc}")
    return None
