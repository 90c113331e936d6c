"""Starting processes in the guest: users, environments, fork/exec, blocking runs, workers.

The agent is single-threaded, so it forks directly (no `subprocess`, whose imports cost
~200 ms under TCG). Every child gets its own session (its pid is its process group, so a
timeout or a stop can kill the whole tree), default signal dispositions, the requested
credentials and working directory, and optionally joins a cgroup before exec. Exec failures
come back through a close-on-exec pipe as an `OpError`. `fork_call` runs a blocking Python
function in a forked worker and delivers its result to the loop (git, network, identity).
"""

from __future__ import annotations

import os
import time

from atelier.guest import codec, log, sigs
from atelier.guest import protocol as p
from atelier.guest.loop import IN
from atelier.guest.session import OpError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from atelier.guest.loop import Loop

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEVNULL = -1


class Cred:
    """Who a child runs as."""

    __slots__ = ("gid", "groups", "home", "name", "shell", "uid")

    def __init__(
        self, name: str, uid: int, gid: int, groups: list[int], home: str, shell: str
    ) -> None:
        self.name = name
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home
        self.shell = shell


def lookup_user(user: str | int | None) -> Cred | None:
    """The credentials of `user` (name or uid), or None for "as the agent itself"."""
    if user is None or user == "":
        return None
    import pwd

    try:
        if isinstance(user, int) or user.isdigit():
            entry = pwd.getpwuid(int(user))
        else:
            entry = pwd.getpwnam(user)
    except KeyError:
        raise OpError(
            p.E_NOT_FOUND, f"user {user!r} does not exist in the guest", field="user"
        ) from None
    if os.getuid() != 0 and entry.pw_uid != os.getuid():
        raise OpError(
            p.E_PERMISSION,
            f"the agent runs as uid {os.getuid()} and cannot switch to {entry.pw_name!r}",
            field="user",
        )
    groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
    return Cred(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir, entry.pw_shell)


def default_cwd(cred: Cred | None) -> str | None:
    """The user's home when it exists ("nobody" has /nonexistent), else "/"."""
    if cred is None:
        return None
    return cred.home if os.path.isdir(cred.home) else "/"


def child_env(
    cred: Cred | None, extra: dict[str, str] | None = None, term: str | None = None
) -> dict[str, str]:
    """PATH, locale and identity variables, then `extra` on top."""
    if cred is None:
        import pwd

        try:
            me = pwd.getpwuid(os.getuid())
            name, home, shell = me.pw_name, me.pw_dir, me.pw_shell
        except KeyError:
            name, home, shell = str(os.getuid()), "/", "/bin/sh"
    else:
        name, home, shell = cred.name, cred.home, cred.shell
    env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "HOME": home, "USER": name, "LOGNAME": name}
    env["SHELL"] = shell or "/bin/sh"
    if term:
        env["TERM"] = term
    if extra:
        env.update(extra)
    return env


def spawn(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: str | None = None,
    cred: Cred | None = None,
    stdin: int = DEVNULL,
    stdout: int = DEVNULL,
    stderr: int = DEVNULL,
    ctty: bool = False,
    cgroup: str | None = None,
) -> int:
    """Fork and exec `argv` in a new session; returns the pid or raises OpError."""
    if not argv:
        raise OpError(p.E_BAD_REQUEST, "argv must name a program", field="argv")
    err_r, err_w = os.pipe()
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    fds = [null if fd == DEVNULL else fd for fd in (stdin, stdout, stderr)]
    pid = os.fork()
    if pid == 0:
        _child(argv, env, cwd, cred, fds, ctty, cgroup, err_w)
    os.close(err_w)
    os.close(null)
    chunks = []
    while chunk := os.read(err_r, 4096):
        chunks.append(chunk)
    os.close(err_r)
    if chunks:
        os.waitpid(pid, 0)
        stage, _, message = b"".join(chunks).decode("utf-8", "replace").partition(":")
        field = {"chdir": "cwd", "user": "user"}.get(stage, "argv")
        raise OpError(p.E_EXEC_FAILED, message, field=field)
    return pid


def _child(
    argv: list[str],
    env: dict[str, str],
    cwd: str | None,
    cred: Cred | None,
    fds: list[int],
    ctty: bool,
    cgroup: str | None,
    err_w: int,
) -> None:
    stage = "setup"
    try:
        sigs.reset_for_child()
        os.setsid()
        if cgroup:
            stage = "cgroup"
            with open(f"{cgroup}/cgroup.procs", "w") as fh:
                fh.write(str(os.getpid()))
        stage = "setup"
        for target, fd in enumerate(fds):
            if fd == target:
                os.set_inheritable(fd, True)
            else:
                os.dup2(fd, target)
        if ctty:
            import fcntl
            import termios

            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if cred is not None:
            stage = "user"
            os.setgroups(cred.groups)
            os.setgid(cred.gid)
            os.setuid(cred.uid)
        os.umask(0o022)
        if cwd:
            stage = "chdir"
            os.chdir(cwd)
        stage = "exec"
        os.closerange(3, err_w)
        os.closerange(err_w + 1, 65536)
        os.execvpe(argv[0], argv, env)
    except BaseException as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        what = {
            "exec": f"cannot run {argv[0]!r}: {detail}",
            "chdir": f"cannot change to directory {cwd!r}: {detail}",
            "user": f"cannot switch to user {cred.name if cred else '?'!r}: {detail}",
            "cgroup": f"cannot join cgroup {cgroup}: {detail}",
        }.get(stage, f"cannot start {argv[0]!r}: {detail}")
        try:
            os.write(err_w, f"{stage}:{what}".encode())
        finally:
            os._exit(127)


def kill_group(pgid: int, signum: int = sigs.SIGKILL) -> None:
    """Signal a whole process group; a vanished group is fine."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def describe_status(status: int) -> dict[str, Any]:
    """A wait status as {exit_code, signal}: exactly one of them is set."""
    if os.WIFSIGNALED(status):
        return {"exit_code": None, "signal": os.WTERMSIG(status)}
    return {"exit_code": os.waitstatus_to_exitcode(status), "signal": None}


def run_blocking(
    argv: list[str],
    *,
    timeout: float,
    input: bytes | None = None,
    cred: Cred | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    max_output: int = 8 << 20,
) -> tuple[int, bytes, bytes]:
    """Run a command to completion from blocking code (workers, init setup).

    Returns (exit code, stdout, stderr); raises OpError on timeout (the group is killed) or
    when the command cannot start. `input` must fit in a pipe buffer (64 KiB): it is written
    before the output is read. Never call it from the agent's loop process.
    """
    import select

    in_r, in_w = os.pipe() if input is not None else (DEVNULL, -1)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = spawn(
            argv,
            env=env or child_env(cred),
            cwd=cwd,
            cred=cred,
            stdin=in_r,
            stdout=out_w,
            stderr=err_w,
        )
    except BaseException:
        for fd in (in_w, out_r, err_r):
            if fd >= 0:
                os.close(fd)
        raise
    finally:
        for fd in (in_r, out_w, err_w):
            if fd >= 0:
                os.close(fd)
    if in_w != -1:
        try:
            os.write(in_w, input or b"")
        except OSError:
            pass
        os.close(in_w)
    outputs: dict[int, bytearray] = {out_r: bytearray(), err_r: bytearray()}
    poller = select.poll()
    for fd in outputs:
        poller.register(fd, IN)
    deadline = time.monotonic() + timeout
    open_fds = set(outputs)
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            kill_group(pid)
            os.waitpid(pid, 0)
            for fd in outputs:
                os.close(fd)
            raise OpError(p.E_TIMEOUT, f"{argv[0]} did not finish within {timeout:g} s")
        for fd, _ in poller.poll(int(left * 1000) + 1):
            data = os.read(fd, 65536)
            if data:
                if len(outputs[fd]) < max_output:
                    outputs[fd] += data
            else:
                poller.unregister(fd)
                open_fds.discard(fd)
    for fd in outputs:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), bytes(outputs[out_r]), bytes(outputs[err_r])


def fork_call(
    loop: Loop,
    func: Callable[..., dict[str, Any]],
    args: tuple[Any, ...],
    on_done: Callable[[dict[str, Any] | None, OpError | None], None],
    *,
    timeout: float = 120.0,
) -> int:
    """Run `func(*args)` in a forked worker and call `on_done(result, error)` on the loop."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _worker(loop, func, args, w)
    os.close(w)
    os.set_blocking(r, False)
    state: dict[str, Any] = {"buf": bytearray(), "eof": False, "status": None, "done": False}

    def finish() -> None:
        if state["done"] or not state["eof"] or state["status"] is None:
            return
        state["done"] = True
        timer.cancel()
        try:
            body = codec.unpack(bytes(state["buf"]))
        except codec.CodecError:
            desc = describe_status(state["status"])
            on_done(None, OpError(p.E_INTERNAL, f"worker for {func.__name__} died ({desc})"))
            return
        if body.get("ok"):
            on_done(body.get("result") or {}, None)
        else:
            err = body.get("error") or {}
            code, message = err.get("code", p.E_INTERNAL), err.get("message", "worker failed")
            on_done(None, OpError(code, message, field=err.get("field"), hint=err.get("hint")))

    def on_readable(_revents: int) -> None:
        try:
            data = os.read(r, 65536)
        except BlockingIOError:
            return
        if data:
            state["buf"] += data
            return
        loop.unwatch(r)
        os.close(r)
        state["eof"] = True
        finish()

    def on_exit(status: int) -> None:
        state["status"] = status
        finish()

    def on_timeout() -> None:
        log.warn(f"worker {pid} ({func.__name__}) exceeded {timeout:g} s; killing it")
        kill_group(pid)

    loop.watch(r, IN, on_readable)
    loop.watch_child(pid, on_exit)
    timer = loop.call_later(timeout, on_timeout)
    return pid


def _worker(loop: Loop, func: Callable[..., dict[str, Any]], args: tuple[Any, ...], w: int) -> None:
    code = 0
    try:
        loop.close_in_child()
        os.setsid()
        try:
            body: dict[str, Any] = {"ok": True, "result": func(*args)}
        except OpError as exc:
            body = {"ok": False, "error": exc.body()}
        except Exception as exc:
            log.exception(f"worker {func.__name__} failed")
            body = {"ok": False, "error": p.error_body(p.E_INTERNAL, f"{func.__name__}: {exc}")}
        data = memoryview(codec.pack(body))
        while data:
            data = data[os.write(w, data) :]
    except BaseException:
        code = 1
    finally:
        os._exit(code)
