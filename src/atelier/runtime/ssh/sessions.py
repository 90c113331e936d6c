"""Relayed channels: a client's session (shell, exec, sftp/scp) or local forward, mirrored
on the guest's sshd.

A session is accepted as soon as the client asks for it; the access check and the guest
channel follow asynchronously. A refusal is then written to the session's stderr with exit
status 255, which every OpenSSH tool shows (ssh, scp, sftp, VS Code's log). Forwards are
refused at channel open with the same words.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Protocol

import asyncssh

from atelier.errors import AtelierError
from atelier.runtime.ssh.relay import RELAY_WINDOW, End, Tally, TcpEnd, pair

log = logging.getLogger(__name__)

REFUSED_STATUS = 255  # what OpenSSH's ssh itself exits with when it cannot get through
TermSize = tuple[int, int, int, int]


class Refusal(Exception):
    """A channel cannot be relayed; `message` is what the client is shown."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Link(Protocol):
    """What a relayed channel needs from its client connection."""

    username: str

    def count_in(self, n: int) -> None:
        """Bytes received from the client."""
        ...

    def count_out(self, n: int) -> None:
        """Bytes received from the guest."""
        ...

    async def sandbox(self) -> str:
        """The sandbox id this channel may use now; raises Refusal."""
        ...

    async def upstream(
        self, sandbox_id: str, agent_path: str | None, *, any_agent: bool = False
    ) -> asyncssh.SSHClientConnection:
        """The guest connection (with the client's agent forwarded when given); Refusal."""
        ...

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        """Run a task owned by the connection."""
        ...

    def channel_done(self, kind: str) -> None:
        """A relayed channel of `kind` (session, forward) ended."""
        ...


class UpSession(End, asyncssh.SSHClientSession[bytes]):
    """The guest's side of a session: output flows back, exit status is kept."""

    def __init__(self, tally: Tally) -> None:
        super().__init__(tally)
        self.exit_status: int | None = None
        self.exit_signal: tuple[str, bool, str, str] | None = None

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_signal = (signal, core_dumped, msg, lang)

    def connection_made(self, chan: Any) -> None:
        super().connection_made(chan)
        self._client_chan: asyncssh.SSHClientChannel[bytes] = chan

    def guest_chan(self) -> asyncssh.SSHClientChannel[bytes] | None:
        """The guest channel, once its session has started."""
        return self._client_chan if self.ready and not self.closed else None


class DownSession(End, asyncssh.SSHServerSession[bytes]):
    """The client's side of a session."""

    def __init__(self, link: Link) -> None:
        super().__init__(link.count_in)
        self._link = link
        self.up = UpSession(link.count_out)
        pair(self, self.up)
        self.command: str | None = None
        self.subsystem: str | None = None
        self.term_type: str | None = None
        self.term_size: TermSize = (0, 0, 0, 0)
        self.term_modes: dict[int, int] = {}
        self._opening: asyncio.Task[None] | None = None
        self._server_chan: asyncssh.SSHServerChannel[bytes] | None = None

    def connection_made(self, chan: Any) -> None:
        super().connection_made(chan)
        self._server_chan = chan

    def pty_requested(self, term_type: str, term_size: TermSize, term_modes: Any) -> bool:
        self.term_type = term_type or "xterm"
        self.term_size = term_size
        self.term_modes = dict(term_modes)
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        self.subsystem = subsystem
        return True

    def session_started(self) -> None:
        super().session_started()
        self._opening = self._link.spawn(self._open())

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self.term_size = (width, height, pixwidth, pixheight)
        chan = self.up.guest_chan()
        if chan is not None:
            chan.change_terminal_size(width, height, pixwidth, pixheight)

    def signal_received(self, signal: str) -> None:
        chan = self.up.guest_chan()
        if chan is not None:
            chan.send_signal(signal)

    def break_received(self, msec: int) -> bool:
        chan = self.up.guest_chan()
        if chan is None:
            return False
        chan.send_break(msec)
        return True

    def peer_lost(self, exc: Exception | None) -> None:
        chan = self._server_chan
        if chan is None or self.closed:
            return
        if self.up.exit_signal is not None:
            chan.exit_with_signal(*self.up.exit_signal)
        elif self.up.exit_status is not None:
            chan.exit(self.up.exit_status)
        elif exc is not None:
            self.refuse(f"the connection to the sandbox was lost: {exc}")
        else:
            self.finish()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
        self._link.channel_done("session")

    def refuse(self, message: str) -> None:
        """Show `message` on the client's stderr and end the session with status 255."""
        chan = self._server_chan
        if chan is None or self.closed or chan.is_closing():
            return
        eol = "\r\n" if self.term_type else "\n"
        text = eol.join(message.splitlines()) + eol
        chan.write(text.encode(), asyncssh.EXTENDED_DATA_STDERR)
        chan.exit(REFUSED_STATUS)

    async def _open(self) -> None:
        try:
            sandbox_id = await self._link.sandbox()
            agent_path = self._server_chan.get_agent_path() if self._server_chan else None
            guest = await self._link.upstream(sandbox_id, agent_path)
            await self._open_guest_session(guest)
        except Refusal as refusal:
            self.refuse(refusal.message)
        except (asyncssh.Error, OSError) as exc:
            reason = getattr(exc, "reason", "") or str(exc) or type(exc).__name__
            self.refuse(f"the sandbox's sshd refused the session: {reason}")

    async def _open_guest_session(self, guest: asyncssh.SSHClientConnection) -> None:
        env: dict[bytes | str, bytes | str] = {}
        if self._server_chan is not None:
            env.update(dict(self._server_chan.get_environment_bytes().items()))
        env[b"ATELIER_USER"] = self._link.username.encode()
        sent_size = self.term_size
        await guest.create_session(
            lambda: self.up,
            command=self.command,
            subsystem=self.subsystem,
            env=env,
            request_pty=self.term_type is not None,
            term_type=self.term_type,
            term_size=sent_size if self.term_type else None,
            term_modes=self.term_modes or None,
            encoding=None,
            window=RELAY_WINDOW,
        )
        chan = self.up.guest_chan()
        if chan is not None and self.term_type and self.term_size != sent_size:
            chan.change_terminal_size(*self.term_size)  # resized while the channel opened


class Forward:
    """A local forward (`direct-tcpip`): a client channel relayed to a guest connection."""

    def __init__(self, link: Link, dest_host: str, dest_port: int, orig: tuple[str, int]) -> None:
        self._link = link
        self._dest = (dest_host, dest_port)
        self._orig = orig

    async def open(self) -> TcpEnd:
        """Open the guest side; the returned End becomes the client channel's session.

        Raises asyncssh.ChannelOpenError carrying the refusal, which OpenSSH prints as
        `channel N: open failed: ...`.
        """
        down = _ForwardEnd(self._link, self._link.count_in)
        up = TcpEnd(self._link.count_out)
        pair(down, up)
        try:
            sandbox_id = await self._link.sandbox()
            guest = await self._link.upstream(sandbox_id, None, any_agent=True)
            await guest.create_connection(
                lambda: up, *self._dest, *self._orig, encoding=None, window=RELAY_WINDOW
            )
        except Refusal as refusal:
            reason = "; ".join(refusal.message.splitlines())
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, reason
            ) from None
        except asyncssh.ChannelOpenError as exc:
            raise asyncssh.ChannelOpenError(exc.code, f"inside the sandbox: {exc.reason}") from None
        except (asyncssh.Error, OSError, AtelierError) as exc:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, str(exc)) from None
        return down


class _ForwardEnd(TcpEnd):
    """The client's side of a forward; reports its end to the connection."""

    def __init__(self, link: Link, tally: Tally) -> None:
        super().__init__(tally)
        self._link = link

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._link.channel_done("forward")
