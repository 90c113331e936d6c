"""PTY sessions: open, attach (several at once), input, resize, scrollback replay, close.

A session belongs to the agent, not to a connection: when the host disconnects its
attachments go away and the program keeps running; `pty.attach` later replays up to the
scrollback size and continues live. Output is read from the master as it comes, appended to
the scrollback and queued per attachment under that attachment's credit; while any attachment
holds more than `HIGH_WATER` bytes the master is not read, so the program blocks like on a
terminal nobody reads. Exited sessions stay listable for `EXITED_TTL_S` seconds.
"""

from __future__ import annotations

import os
import struct
import time

from atelier.guest import protocol as p
from atelier.guest import sigs, spawn
from atelier.guest.loop import IN, OUT
from atelier.guest.ops_exec import command_argv
from atelier.guest.session import OpError, StreamHandler

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from atelier.guest.agent import Agent
    from atelier.guest.loop import Loop
    from atelier.guest.session import Args, Stream

SCROLLBACK = 256 << 10
MAX_SCROLLBACK = 4 << 20
HIGH_WATER = 1 << 20
EXITED_TTL_S = 600.0
CLOSE_GRACE_S = 2.0


def set_winsize(fd: int, cols: int, rows: int) -> None:
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Attachment(StreamHandler):
    """One stream watching a session: output under credit, input and resizes from the host."""

    def __init__(self, session: PtySession, stream: Stream) -> None:
        self.session = session
        self.stream = stream
        self.backlog: list[bytes] = []
        self.backlog_bytes = 0
        self.final: dict[str, Any] | None = None

    def push(self, data: bytes) -> None:
        if data:
            self.backlog.append(data)
            self.backlog_bytes += len(data)
        self.flush()

    def flush(self) -> None:
        while self.backlog and self.stream.credit[p.CH_OUT] > 0:
            chunk = self.backlog[0]
            n = min(len(chunk), self.stream.credit[p.CH_OUT])
            self.stream.send_data(p.CH_OUT, chunk[:n])
            self.backlog_bytes -= n
            if n < len(chunk):
                self.backlog[0] = chunk[n:]
            else:
                self.backlog.pop(0)
        if self.backlog_bytes < HIGH_WATER:
            self.session.maybe_resume()
        if self.final is not None and not self.backlog:
            self.stream.send_eof(p.CH_OUT)
            self.stream.send_event({"exit": self.final})
            self.stream.handler = None
            self.stream.reply(self.final)
            self.session.attachments.discard(self)

    def finish(self, result: dict[str, Any]) -> None:
        self.final = result
        self.flush()

    def on_window(self, channel: int) -> None:
        self.flush()

    def on_data(self, channel: int, data: bytes) -> None:
        self.session.write(self, data)

    def on_event(self, message: dict[str, Any]) -> None:
        size = message.get("resize")
        if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size):
            self.session.resize(size[0], size[1])
        if "signal" in message:
            try:
                spawn.kill_group(self.session.pid, sigs.parse(message["signal"]))
            except ValueError:
                pass

    def on_cancel(self, reason: str) -> None:
        self.session.attachments.discard(self)
        self.backlog.clear()
        self.backlog_bytes = 0
        self.session.maybe_resume()


class PtySession:
    """A program on a pseudo-terminal, owned by the agent."""

    def __init__(
        self, manager: PtyManager, argv: list[str], cols: int, rows: int, scrollback: int
    ) -> None:
        self.manager = manager
        self.loop: Loop = manager.agent.loop
        self.id = "pty-" + os.urandom(6).hex()
        self.argv = argv
        self.cols = cols
        self.rows = rows
        self.limit = scrollback
        self.scrollback = bytearray()
        self.attachments: set[Attachment] = set()
        self.pid = 0
        self.master = -1
        self.user: str | None = None
        self.created = time.time()
        self.status: int | None = None
        self.paused = False
        self.finished = False
        self.inbox: list[tuple[Attachment, bytes]] = []

    def start(self, args: Args) -> None:
        cred = spawn.lookup_user(args.text("user"))
        self.user = cred.name if cred else None
        env = spawn.child_env(cred, args.env(), term=args.text("term") or "xterm-256color")
        master, slave = os.openpty()
        try:
            set_winsize(slave, self.cols, self.rows)
            cwd = args.text("cwd") or spawn.default_cwd(cred)
            self.pid = spawn.spawn(
                self.argv, env=env, cwd=cwd, cred=cred, stdin=slave, stdout=slave, stderr=slave,
                ctty=True,
            )  # fmt: skip
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self.master = master
        os.set_blocking(master, False)
        self.loop.watch_child(self.pid, self._on_exit)
        self._arm()

    def _arm(self) -> None:
        if self.master < 0:
            return
        events = (0 if self.paused else IN) | (OUT if self.inbox else 0)
        if events:
            self.loop.watch(self.master, events, self._on_events)
        else:
            self.loop.unwatch(self.master)

    def _on_events(self, revents: int) -> None:
        if revents & OUT:
            self._flush_input()
        if revents & ~OUT and not self.paused:
            self._read()

    def _read(self, drain: bool = False) -> None:
        for _ in range(1 << 20 if drain else 16):
            try:
                data = os.read(self.master, p.MAX_DATA_CHUNK)
            except BlockingIOError:
                return
            except OSError:  # EIO: every slave fd is closed
                data = b""
            if not data:
                self._output_done()
                return
            self.scrollback += data
            if len(self.scrollback) > self.limit:
                del self.scrollback[: len(self.scrollback) - self.limit]
            for attachment in list(self.attachments):
                attachment.push(data)
            if not drain and any(a.backlog_bytes >= HIGH_WATER for a in self.attachments):
                self.paused = True
                self._arm()
                return

    def maybe_resume(self) -> None:
        if self.paused and all(a.backlog_bytes < HIGH_WATER for a in self.attachments):
            self.paused = False
            self._arm()

    def write(self, attachment: Attachment, data: bytes) -> None:
        if self.master < 0:
            attachment.stream.grant(p.CH_IN, len(data))
            return
        self.inbox.append((attachment, data))
        self._flush_input()

    def _flush_input(self) -> None:
        while self.inbox and self.master >= 0:
            attachment, data = self.inbox[0]
            try:
                n = os.write(self.master, data)
            except BlockingIOError:
                break
            except OSError:
                n = len(data)
            attachment.stream.grant(p.CH_IN, n)
            if n < len(data):
                self.inbox[0] = (attachment, data[n:])
            else:
                self.inbox.pop(0)
        self._arm()

    def resize(self, cols: int, rows: int) -> None:
        if self.master >= 0 and 0 < cols < 10000 and 0 < rows < 10000:
            self.cols, self.rows = cols, rows
            set_winsize(self.master, cols, rows)  # the kernel sends SIGWINCH to the foreground

    def attach(self, stream: Stream, replay: bool) -> Attachment:
        attachment = Attachment(self, stream)
        stream.handler = attachment
        stream.send_event(
            {"session": self.id, "pid": self.pid, "cols": self.cols, "rows": self.rows}
        )
        self.attachments.add(attachment)
        attachment.push(bytes(self.scrollback) if replay else b"")
        if self.finished:
            attachment.finish(self.result())
        return attachment

    def _on_exit(self, status: int) -> None:
        self.status = status
        if self.master >= 0:
            self._read(drain=True)  # what the program wrote just before exiting
        self._output_done()

    def _output_done(self) -> None:
        if self.master >= 0:
            self.loop.unwatch(self.master)
            os.close(self.master)
            self.master = -1
            for attachment, data in self.inbox:
                attachment.stream.grant(p.CH_IN, len(data))
            self.inbox.clear()
        if self.status is None or self.finished:
            return  # wait for the exit status
        self.finished = True
        spawn.kill_group(self.pid, sigs.SIGHUP)  # background jobs of the session
        for attachment in list(self.attachments):
            attachment.finish(self.result())
        self.loop.call_later(EXITED_TTL_S, self._forget)

    def _forget(self) -> None:
        self.manager.sessions.pop(self.id, None)

    def result(self) -> dict[str, Any]:
        assert self.status is not None
        result = spawn.describe_status(self.status)
        result["session"] = self.id
        return result

    def close(self, signum: int = sigs.SIGHUP) -> None:
        if self.status is not None:
            self.manager.sessions.pop(self.id, None)
            return
        spawn.kill_group(self.pid, signum)
        self.loop.call_later(CLOSE_GRACE_S, self._force_kill)

    def _force_kill(self) -> None:
        if self.status is None:
            spawn.kill_group(self.pid, sigs.SIGKILL)

    def info(self) -> dict[str, Any]:
        return {
            "session": self.id, "pid": self.pid, "argv": self.argv, "user": self.user,
            "cols": self.cols, "rows": self.rows, "created": self.created,
            "attached": len(self.attachments), "running": self.status is None,
            "exit": spawn.describe_status(self.status) if self.status is not None else None,
        }  # fmt: skip


class PtyManager:
    """Every PTY session of the agent, by id."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.sessions: dict[str, PtySession] = {}

    def get(self, sid: str) -> PtySession:
        session = self.sessions.get(sid)
        if session is None:
            raise OpError(
                p.E_NOT_FOUND,
                f"no PTY session {sid!r}",
                field="session",
                hint="pty.list shows the sessions",
            )
        return session

    def shutdown(self) -> None:
        for session in list(self.sessions.values()):
            if session.status is None:
                spawn.kill_group(session.pid, sigs.SIGKILL)


def _manager(agent: Agent) -> PtyManager:
    manager: PtyManager = agent.part("pty", PtyManager)
    return manager


def op_open(agent: Agent, stream: Stream, args: Args) -> None:
    cols = args.integer("cols", 80, low=1, high=9999) or 80
    rows = args.integer("rows", 24, low=1, high=9999) or 24
    scrollback = args.integer("scrollback", SCROLLBACK, low=0, high=MAX_SCROLLBACK)
    if args.strings("argv") is None and args.text("shell") is None:
        args.data["argv"] = (
            ["/bin/bash", "-l"] if os.access("/bin/bash", os.X_OK) else ["/bin/sh", "-l"]
        )
    manager = _manager(agent)
    session = PtySession(
        manager, command_argv(args), cols, rows, SCROLLBACK if scrollback is None else scrollback
    )
    session.start(args)
    manager.sessions[session.id] = session
    session.attach(stream, replay=False)


def op_attach(agent: Agent, stream: Stream, args: Args) -> None:
    session = _manager(agent).get(args.need_text("session"))
    session.attach(stream, replay=args.flag("replay", True))


def op_close(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    sid = args.need_text("session")
    session = _manager(agent).get(sid)
    try:
        signum = sigs.parse(args.data.get("signal", "HUP"))
    except ValueError as exc:
        raise OpError(p.E_BAD_REQUEST, str(exc), field="signal") from None
    session.close(signum)
    return {"session": sid, "closed": True}


def op_list(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    return {"sessions": [s.info() for s in _manager(agent).sessions.values()]}
