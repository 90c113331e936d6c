"""The `exec` operation: run a command with streamed output, stdin, signals and a timeout.

The command runs in its own session (and cgroup when available); a timeout, a host CANCEL or a
lost session kills the whole tree, not just the leader. Output is read from the pipes only
while the host has granted credit, so a fast producer is throttled by the pipe instead of
filling the agent's memory. When the leader exits, processes it left in its group are killed
(unless `keep_background`) and output still in the pipes is drained before the RESPONSE.
"""

from __future__ import annotations

import os
import time

from atelier.guest import protocol as p
from atelier.guest import sigs, spawn
from atelier.guest.loop import IN, OUT
from atelier.guest.session import OpError, StreamHandler

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from atelier.guest.agent import Agent
    from atelier.guest.loop import Timer
    from atelier.guest.session import Args, Stream

LINGER_S = 2.0  # after the leader exits, how long output may keep coming from leftovers
_counter = [0]


def command_argv(args: Args) -> list[str]:
    """`argv` as given, or `shell` run by /bin/bash (or /bin/sh) with `-c`, `-lc` for `login`."""
    argv = args.strings("argv")
    shell = args.text("shell")
    if (argv is None) == (shell is None):
        raise OpError(
            p.E_BAD_REQUEST,
            "give exactly one of 'argv' (a list) or 'shell' (a string)",
            field="argv",
        )
    if argv is not None:
        if not argv or not argv[0]:
            raise OpError(p.E_BAD_REQUEST, "argv must name a program", field="argv")
        return argv
    assert shell is not None
    sh = "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/bin/sh"
    return [sh, "-lc" if args.flag("login") else "-c", shell]


def op_exec(agent: Agent, stream: Stream, args: Args) -> None:
    job = ExecJob(agent, stream, args)
    job.start(args)


class ExecJob(StreamHandler):
    """One running command bound to one stream."""

    def __init__(self, agent: Agent, stream: Stream, args: Args) -> None:
        self.agent = agent
        self.stream = stream
        self.loop = agent.loop
        self.timeout = args.number("timeout")
        self.keep_background = args.flag("keep_background")
        self.pid = 0
        self.status: int | None = None
        self.timed_out = False
        self.cancelled = False
        self.started = time.monotonic()
        self.cgroup: str | None = None
        self.pipes: dict[int, int] = {}  # channel -> read fd
        self.stdin_fd = -1
        self.stdin_buf: list[bytes] = []
        self.stdin_eof = False
        self.timers: list[Timer] = []

    def start(self, args: Args) -> None:
        argv = command_argv(args)
        cred = spawn.lookup_user(args.text("user"))
        env = spawn.child_env(cred, args.env())
        cwd = args.text("cwd") or spawn.default_cwd(cred)
        stdin_data = args.blob("stdin_data")
        want_stdin = args.flag("stdin")
        _counter[0] += 1
        self.cgroup = self.agent.cgroups.create(f"exec-{os.getpid()}-{_counter[0]}")
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe() if (want_stdin or stdin_data) else (spawn.DEVNULL, -1)
        try:
            self.pid = spawn.spawn(
                argv,
                env=env,
                cwd=cwd,
                cred=cred,
                stdin=in_r,
                stdout=out_w,
                stderr=err_w,
                cgroup=self.cgroup,
            )
        except BaseException:
            for fd in (out_r, err_r, in_w):
                if fd >= 0:
                    os.close(fd)
            self.agent.cgroups.remove(self.cgroup)
            raise
        finally:
            for fd in (out_w, err_w, in_r):
                if fd >= 0:
                    os.close(fd)
        self.stream.handler = self
        jobs(self.agent).add(self)
        self.loop.watch_child(self.pid, self._on_exit)
        self.pipes = {p.CH_OUT: out_r, p.CH_ERR: err_r}
        for channel, fd in self.pipes.items():
            os.set_blocking(fd, False)
            self._resume(channel)
        if in_w >= 0:
            self.stdin_fd = in_w
            os.set_blocking(in_w, False)
            if stdin_data:
                self.stdin_buf.append(stdin_data)
            self.stdin_eof = not want_stdin
            self._flush_stdin()
        if self.timeout:
            self.timers.append(self.loop.call_later(self.timeout, self._on_timeout))
        self.stream.send_event({"pid": self.pid})

    # output
    def _resume(self, channel: int) -> None:
        fd = self.pipes.get(channel)
        if fd is not None:
            self.loop.watch(fd, IN, lambda _ev: self._read(channel))

    def _read(self, channel: int) -> None:
        fd = self.pipes[channel]
        credit = self.stream.credit.get(channel, 0)
        if credit <= 0:
            self.loop.unwatch(fd)  # no credit: the pipe fills and the writer blocks
            return
        try:
            data = os.read(fd, min(credit, p.MAX_DATA_CHUNK))
        except BlockingIOError:
            return
        if data:
            self.stream.send_data(channel, data)
            return
        self._close_pipe(channel)
        self.stream.send_eof(channel)
        self._maybe_finish()

    def _close_pipe(self, channel: int) -> None:
        fd = self.pipes.pop(channel, None)
        if fd is not None:
            self.loop.unwatch(fd)
            os.close(fd)

    def on_window(self, channel: int) -> None:
        if channel in self.pipes:
            self._resume(channel)

    # input
    def on_data(self, channel: int, data: bytes) -> None:
        if self.stdin_fd < 0:
            self.stream.grant(p.CH_IN, len(data))  # nobody reads it; keep the host unblocked
            return
        self.stdin_buf.append(data)
        self._flush_stdin()

    def on_eof(self, channel: int) -> None:
        self.stdin_eof = True
        self._flush_stdin()

    def _flush_stdin(self) -> None:
        while self.stdin_buf and self.stdin_fd >= 0:
            chunk = self.stdin_buf[0]
            try:
                n = os.write(self.stdin_fd, chunk)
            except BlockingIOError:
                self.loop.watch(self.stdin_fd, OUT, lambda _ev: self._flush_stdin())
                return
            except OSError:  # the command closed its stdin
                self._close_stdin()
                return
            self.stream.grant(p.CH_IN, n)
            if n < len(chunk):
                self.stdin_buf[0] = chunk[n:]
            else:
                self.stdin_buf.pop(0)
        if self.stdin_fd >= 0:
            self.loop.unwatch(self.stdin_fd)
            if self.stdin_eof:
                self._close_stdin()

    def _close_stdin(self) -> None:
        if self.stdin_fd >= 0:
            self.loop.unwatch(self.stdin_fd)
            os.close(self.stdin_fd)
            self.stdin_fd = -1
        for chunk in self.stdin_buf:
            self.stream.grant(p.CH_IN, len(chunk))
        self.stdin_buf.clear()

    def on_event(self, message: dict[str, Any]) -> None:
        if "signal" in message:
            try:
                signum = sigs.parse(message["signal"])
            except ValueError:
                return
            spawn.kill_group(self.pid, signum)

    # lifecycle
    def _kill_tree(self) -> None:
        spawn.kill_group(self.pid, sigs.SIGKILL)
        self.agent.cgroups.kill(self.cgroup)

    def _on_timeout(self) -> None:
        if self.status is None:
            self.timed_out = True
            self._kill_tree()

    def on_cancel(self, reason: str) -> None:
        self.cancelled = True
        self._kill_tree()
        for channel in list(self.pipes):
            self._close_pipe(channel)
        self._close_stdin()
        if self.status is not None:
            self._cleanup()

    def _on_exit(self, status: int) -> None:
        self.status = status
        if not self.keep_background:
            self._kill_tree()
        self._close_stdin()
        if self.cancelled:
            self._cleanup()
            return
        self.timers.append(self.loop.call_later(LINGER_S, self._linger_over))
        self._maybe_finish()

    def _linger_over(self) -> None:
        for channel in list(self.pipes):
            self._close_pipe(channel)
            self.stream.send_eof(channel)
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self.status is None or self.pipes:
            return
        result = spawn.describe_status(self.status)
        result.update(
            pid=self.pid, timed_out=self.timed_out, duration_s=time.monotonic() - self.started
        )
        self.stream.handler = None
        self.stream.reply(result)
        self._cleanup()

    def _cleanup(self) -> None:
        for timer in self.timers:
            timer.cancel()
        jobs(self.agent).discard(self)
        if self.cgroup is not None:
            remove_cgroup_later(self.agent, self.cgroup)
        self.cgroup = None

    def shutdown(self) -> None:
        self.on_cancel("agent shutting down")


class Jobs:
    """Live exec jobs, so a shutting-down agent can kill them all."""

    def __init__(self, _agent: Agent) -> None:
        self.live: set[ExecJob] = set()

    def add(self, job: ExecJob) -> None:
        self.live.add(job)

    def discard(self, job: ExecJob) -> None:
        self.live.discard(job)

    def shutdown(self) -> None:
        for job in list(self.live):
            job.shutdown()


def remove_cgroup_later(agent: Agent, path: str, tries: int = 30) -> None:
    """Remove a leaf cgroup once its last (killed) process is gone."""
    if agent.cgroups.remove(path) or tries <= 0:
        return
    agent.loop.call_later(0.2, lambda: remove_cgroup_later(agent, path, tries - 1))


def jobs(agent: Agent) -> Jobs:
    result: Jobs = agent.part("jobs", Jobs)
    return result
