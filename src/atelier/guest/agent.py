"""The guest agent: configuration, token, transports, the operation table and the CLI.

`Agent` ties the loop, the links and the sessions together and runs operations. Operation
modules are imported on first use, so a fresh agent answers `health` without paying for exec,
files, PTY, git or services. `init.py` builds an Agent inside PID 1; `main()` serves chosen
transports from an ordinary process, which is how tests run the real agent on the host
(`python3 -I -S -c 'import sys; sys.path.insert(0, SRC); from atelier.guest.agent import main;
main()' --serve-unix /tmp/agent.sock --token T`).
"""

from __future__ import annotations

import os
import time

from atelier.guest import log, sigs
from atelier.guest import protocol as p
from atelier.guest.cgroups import Cgroups
from atelier.guest.links import Link, Listener, PortLink
from atelier.guest.loop import Loop
from atelier.guest.session import Args, OpError, Session

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from atelier.guest.session import Stream

    Op = Callable[["Agent", Stream, Args], dict[str, Any] | None]

# op name -> "module:function" in atelier.guest
OPS: dict[str, str] = {
    "health": "agent:op_health",
    "metrics": "ops_system:metrics",
    "time.set": "ops_system:time_set",
    "entropy.reseed": "ops_system:entropy_reseed",
    "token.rotate": "ops_system:token_rotate",
    "poweroff": "ops_system:poweroff",
    "identity.refresh": "ops_system:identity_refresh",
    "network.configure": "ops_system:network_configure",
    "fs.grow": "ops_system:fs_grow",
    "exec": "ops_exec:op_exec",
    "file.read": "ops_files:op_read",
    "file.write": "ops_files:op_write",
    "file.list": "ops_files:op_list",
    "file.stat": "ops_files:op_stat",
    "file.mkdir": "ops_files:op_mkdir",
    "file.remove": "ops_files:op_remove",
    "file.watch": "ops_watch:op_watch",
    "pty.open": "ops_pty:op_open",
    "pty.attach": "ops_pty:op_attach",
    "pty.close": "ops_pty:op_close",
    "pty.list": "ops_pty:op_list",
    "git.status": "ops_git:op_status",
    "service.list": "ops_services:op_list",
    "service.status": "ops_services:op_status",
    "service.start": "ops_services:op_start",
    "service.stop": "ops_services:op_stop",
    "service.restart": "ops_services:op_restart",
    "service.logs": "ops_services:op_logs",
    "service.define": "ops_services:op_define",
    "service.remove": "ops_services:op_remove",
}

IMAGE_SERVICES_DIR = "/etc/atelier/services.d"
RUNTIME_SERVICES_DIR = "/var/lib/atelier/services.d"
LOG_DIR = "/var/log/atelier"


class AgentConfig:
    """How an agent behaves; `system=False` (the default) never changes the machine itself."""

    def __init__(
        self,
        *,
        token: str,
        token_file: str | None = None,
        version: int = p.PROTOCOL_VERSION,
        system: bool = False,
        services_dirs: tuple[str, ...] = (IMAGE_SERVICES_DIR, RUNTIME_SERVICES_DIR),
        runtime_services_dir: str = RUNTIME_SERVICES_DIR,
        log_dir: str = LOG_DIR,
        cgroup_root: str | None = None,
        max_file_size: int = 4 << 30,
        root_device: str = "/dev/vda",
    ) -> None:
        self.token = token
        self.token_file = token_file
        self.version = version
        self.system = system
        self.services_dirs = services_dirs
        self.runtime_services_dir = runtime_services_dir
        self.log_dir = log_dir
        self.cgroup_root = cgroup_root
        self.max_file_size = max_file_size
        self.root_device = root_device


class Agent:
    """Serves the protocol on any number of links."""

    def __init__(self, loop: Loop, config: AgentConfig) -> None:
        if not config.token:
            raise ValueError("the agent needs a token")
        self.loop = loop
        self.config = config
        self.version = config.version
        self.started = time.monotonic()
        self.boot_state = "none"  # init sets "booting", then "ready" or "degraded"
        self.boot_errors: list[str] = []
        self.cgroups = Cgroups(config.cgroup_root)
        self.listeners: list[Listener] = []
        self.ports: list[PortLink] = []
        self.parts: dict[str, Any] = {}  # lazily built managers: "pty", "services", "jobs"
        self.power_hook: Callable[[bool], None] | None = None
        self._token = config.token.encode()
        self._ops: dict[str, Op] = {}

    # authentication
    def token_ok(self, token: str) -> bool:
        from _operator import _compare_digest

        return _compare_digest(token.encode(), self._token)

    def set_token(self, token: str) -> None:
        if self.config.token_file:
            write_private(self.config.token_file, token.encode())
        self._token = token.encode()

    # operations
    def has_op(self, op: str) -> bool:
        return op in OPS

    def _resolve(self, op: str) -> Op:
        func = self._ops.get(op)
        if func is None:
            module, _, name = OPS[op].partition(":")
            func = getattr(__import__(f"atelier.guest.{module}", fromlist=[name]), name)
            self._ops[op] = func
        return func

    def run_op(self, op: str, stream: Stream, args: dict[str, Any]) -> None:
        try:
            result = self._resolve(op)(self, stream, Args(args))
        except OpError as exc:
            stream.cancel(exc.message)
            stream.fail_with(exc)
            return
        except Exception as exc:
            log.exception(f"op {op} failed")
            stream.cancel(str(exc))
            stream.fail(p.E_INTERNAL, f"{op} failed inside the agent: {exc}")
            return
        if result is not None:
            stream.reply(result)

    def part(self, key: str, factory: Callable[[Agent], Any]) -> Any:
        """A shared manager (PTY sessions, services, live jobs), built on first use."""
        value = self.parts.get(key)
        if value is None:
            value = self.parts[key] = factory(self)
        return value

    def require_system(self, what: str) -> None:
        if not self.config.system:
            raise OpError(
                p.E_UNSUPPORTED,
                f"{what} changes the machine and this agent runs without --system",
                hint="only the agent started by the guest init may do this",
            )

    # transports
    def _session(self, link: Link) -> None:
        Session(self, link)

    def serve_socket(self, sock: Any, name: str) -> None:
        self.listeners.append(Listener(self.loop, sock, name, self._session))

    def serve_port(self, rfd: int, wfd: int, name: str) -> PortLink:
        link = PortLink(self.loop, rfd, wfd, name)
        self._session(link)
        self.ports.append(link)
        return link

    def shutdown(self) -> None:
        """Close transports and end every process the agent started."""
        for listener in self.listeners:
            listener.close()
        for port in self.ports:
            if port.session is not None:
                port.session.reset("agent shutting down")
        for part in self.parts.values():
            stop = getattr(part, "shutdown", None)
            if stop is not None:
                try:
                    stop()
                except Exception:
                    log.exception("shutdown failed")


def op_health(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    """Liveness and identity; cheap enough for readiness polling."""
    return {
        "status": "ok" if agent.boot_state in ("none", "ready") else agent.boot_state,
        "version": agent.version,
        "uptime_s": read_uptime(),
        "boot_id": read_text("/proc/sys/kernel/random/boot_id"),
        "hostname": os.uname().nodename,
        "agent_uptime_s": time.monotonic() - agent.started,
        "boot": agent.boot_state,
        "boot_errors": agent.boot_errors,
        "pid": os.getpid(),
        "time_ns": time.time_ns(),
    }


def read_text(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def read_uptime() -> float:
    text = read_text("/proc/uptime")
    return float(text.split()[0]) if text else 0.0


def write_private(path: str, data: bytes, mode: int = 0o600) -> None:
    """Atomically replace `path` with `data`, readable only by its owner."""
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _set_subreaper() -> None:
    # Orphans of killed process trees come back to the agent, which reaps them.
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _parse_args(argv: list[str] | None) -> Any:
    import argparse

    parser = argparse.ArgumentParser(prog="atelier-agent", description="Serve the Atelier agent.")
    parser.add_argument("--serve-unix", action="append", default=[], metavar="PATH")
    parser.add_argument("--serve-tcp", action="append", default=[], metavar="HOST:PORT")
    parser.add_argument("--serve-vsock", type=int, action="append", default=[], metavar="PORT")
    parser.add_argument(
        "--serve-port", action="append", default=[], metavar="DEVICE",
        help="a virtio-serial device, or 'auto' to find org.atelier.agent",
    )  # fmt: skip
    parser.add_argument(
        "--serve-fifo", action="append", default=[], metavar="IN,OUT",
        help="imitate a virtio-serial port with two FIFOs (tests)",
    )  # fmt: skip
    parser.add_argument("--token")
    parser.add_argument("--token-file")
    parser.add_argument("--protocol-version", type=int, default=p.PROTOCOL_VERSION)
    parser.add_argument("--system", action="store_true", help="allow machine changes (guest only)")
    parser.add_argument("--no-init", action="store_true", help="not PID 1 (the default here)")
    parser.add_argument("--services-dir", action="append", default=[])
    parser.add_argument("--runtime-services-dir", default=RUNTIME_SERVICES_DIR)
    parser.add_argument("--log-dir", default=LOG_DIR)
    parser.add_argument("--log-file")
    parser.add_argument("--cgroup-root")
    return parser.parse_args(argv)


def build(loop: Loop, opts: Any) -> Agent:
    """An agent serving the transports named on the command line."""
    token = opts.token
    if not token and opts.token_file:
        token = read_text(opts.token_file)
    if not token:
        raise SystemExit("atelier-agent: give --token or a non-empty --token-file")
    dirs = tuple(opts.services_dir) or (IMAGE_SERVICES_DIR, opts.runtime_services_dir)
    config = AgentConfig(
        token=token, token_file=opts.token_file, version=opts.protocol_version, system=opts.system,
        services_dirs=dirs, runtime_services_dir=opts.runtime_services_dir, log_dir=opts.log_dir,
        cgroup_root=opts.cgroup_root,
    )  # fmt: skip
    agent = Agent(loop, config)
    from atelier.guest import links

    for path in opts.serve_unix:
        agent.serve_socket(links.listen_unix(path), f"unix:{path}")
    for spec in opts.serve_tcp:
        host, _, port = spec.rpartition(":")
        agent.serve_socket(links.listen_tcp(host or "127.0.0.1", int(port)), f"tcp:{spec}")
    for vport in opts.serve_vsock:
        sock = links.listen_vsock(vport)
        if sock is None:
            raise SystemExit(f"atelier-agent: no vsock transport for port {vport}")
        agent.serve_socket(sock, f"vsock:{vport}")
    for device in opts.serve_port:
        path = links.find_port(p.PORT_NAME) if device == "auto" else device
        if path is None:
            raise SystemExit(f"atelier-agent: no virtio-serial port named {p.PORT_NAME}")
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        agent.serve_port(fd, fd, f"port:{path}")
    for pair in opts.serve_fifo:
        fifo_in, _, fifo_out = pair.partition(",")
        rfd = os.open(fifo_in, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        wfd = os.open(fifo_out, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        agent.serve_port(rfd, wfd, f"fifo:{fifo_in}")
    return agent


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then end every process the agent started."""
    opts = _parse_args(argv)
    log.configure(opts.log_file, stderr=opts.log_file is None)
    loop = Loop()
    agent = build(loop, opts)
    _set_subreaper()

    def stop() -> None:
        agent.shutdown()
        loop.stop()

    agent.power_hook = lambda _reboot: stop()
    loop.on_signal(sigs.SIGTERM, stop)
    loop.on_signal(sigs.SIGINT, stop)
    log.info(f"agent ready: protocol {agent.version}, pid {os.getpid()}")
    loop.run()
    # Give killed children a moment to be reaped so none outlives the agent as a zombie.
    deadline = time.monotonic() + 2.0
    while _has_children() and time.monotonic() < deadline:
        loop.run_once(0.02)


def _has_children() -> bool:
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


if __name__ == "__main__":
    main()
