"""Flow-controlled relaying between a client's channel and the matching guest channel.

Each relayed channel has two `End`s, one per SSH connection, that write what the other
reads. Memory stays bounded: when an End's outgoing channel buffers more than its high-water
mark (asyncssh calls `pause_writing`), the peer stops reading, so its SSH window closes and
the sender waits. Until an End's channel is ready (the guest channel is still opening),
what arrives for it is held and the peer is paused the same way.

asyncssh quirk this relies on being sized for: a paused channel keeps what arrives in a
receive buffer, and the first delivery after `resume_reading` re-opens the full window even
though buffered data is still undelivered, so a channel that is resumed and re-paused after
a packet or two lets its buffer grow by a window per cycle. Draining the whole buffer on
every resume prevents that: the buffer never exceeds two windows when the writer accepts
that much between its low- and high-water marks. Hence RELAY_WINDOW for every relayed
channel (both connections) and write limits of at least two windows apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncssh
from asyncssh.channel import SSHChannel

Tally = Callable[[int], None]

RELAY_WINDOW = 512 * 1024  # receive window of every relayed channel, on both connections
WRITE_LOW = 64 * 1024
WRITE_HIGH = 2 * RELAY_WINDOW + WRITE_LOW + 64 * 1024  # > two windows above the low mark


class End:
    """One side of a relayed channel; mixed into asyncssh session classes."""

    def __init__(self, tally: Tally | None = None) -> None:
        self.chan: SSHChannel[bytes] | None = None
        self.peer: End | None = None
        self.ready = False
        self.closed = False
        self._tally = tally
        self._held: list[tuple[bytes, int | None]] = []
        self._held_eof = False
        self._close_when_ready = False
        self._pause_wanted = False
        self._writing_paused = False

    # Called by the peer.

    def send(self, data: bytes, datatype: int | None = None) -> None:
        """Write data on this End's channel, holding it until the channel is ready."""
        if self.closed:
            return
        if not self.ready or self.chan is None:
            self._held.append((data, datatype))
            if self.peer is not None:
                self.peer.pause()
            return
        try:
            self.chan.write(data, datatype)
        except BrokenPipeError:
            pass  # the channel is closing; what is still in flight has nowhere to go

    def send_eof(self) -> None:
        """Signal end of data on this End's channel once everything before it is sent."""
        if self.closed:
            return
        if not self.ready or self.chan is None:
            self._held_eof = True
            return
        if self.chan.can_write_eof() and not self.chan.is_closing():
            self.chan.write_eof()

    def pause(self) -> None:
        """Stop reading from this End's channel (its sender's window closes)."""
        self._pause_wanted = True
        if self.chan is not None:
            self.chan.pause_reading()

    def resume(self) -> None:
        """Read from this End's channel again."""
        self._pause_wanted = False
        if self.chan is not None and not self.closed:
            self.chan.resume_reading()

    def finish(self) -> None:
        """Close this End's channel after whatever is queued on it."""
        if self.closed:
            return
        if not self.ready or self.chan is None:
            self._close_when_ready = True
            return
        self.chan.close()

    def peer_lost(self, exc: Exception | None) -> None:
        """The peer's channel is gone; by default close this one too."""
        self.finish()

    # asyncssh session callbacks.

    def connection_made(self, chan: Any) -> None:
        self.chan = chan
        chan.set_write_buffer_limits(WRITE_HIGH, WRITE_LOW)
        if self._pause_wanted:
            chan.pause_reading()

    def session_started(self) -> None:
        self.ready = True
        self._flush_held()

    def data_received(self, data: bytes, datatype: int | None) -> None:
        if self._tally is not None:
            self._tally(len(data))
        if self.peer is not None:
            self.peer.send(data, datatype)

    def eof_received(self) -> bool:
        if self.peer is not None:
            self.peer.send_eof()
        return True  # stay half-open: the other direction may still carry data

    def pause_writing(self) -> None:
        self._writing_paused = True
        if self.peer is not None:
            self.peer.pause()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self.peer is not None:
            self.peer.resume()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._held.clear()
        if self.peer is not None:
            self.peer.peer_lost(exc)

    def _flush_held(self) -> None:
        assert self.chan is not None
        held, self._held = self._held, []
        for data, datatype in held:
            self.send(data, datatype)
        if not self._writing_paused and self.peer is not None:
            self.peer.resume()
        if self._held_eof:
            self._held_eof = False
            self.send_eof()
        if self._close_when_ready:
            self.chan.close()


def pair(first: End, second: End) -> None:
    """Make two Ends relay to each other."""
    first.peer = second
    second.peer = first


class TcpEnd(End, asyncssh.SSHTCPSession[bytes]):
    """One side of a forwarded TCP connection (`ssh -L`, `-D`)."""
