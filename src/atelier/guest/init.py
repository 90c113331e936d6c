"""PID 1 after stage 1's switch_root: mounts, the agent first, boot setup, services, reaping.

Order matters for boot time: the agent is listening before anything slow happens (Python
start-up plus these imports is the only cost in front of it). The agent runs in this process
on the loop that also reaps every child: one reaper hands exit statuses to their owners
(exec jobs, services, workers) and silently collects orphans, so no status is ever stolen.
Slow setup (network, hostname, resize2fs, machine-id, SSH host keys) runs in a forked worker;
services start when it finishes. Token guarantee: the token is in /run/atelier/token (root,
0600) and in this process's memory only; /proc/cmdline shows a scrubbed copy and dmesg is
root-only, so unprivileged guest processes cannot read it (root in the guest can).
"""

from __future__ import annotations

import os
import time

from atelier.guest import cmdline, links, log, mounts, sigs, spawn, sysconf
from atelier.guest import protocol as p
from atelier.guest.agent import Agent, AgentConfig, read_text, read_uptime, write_private
from atelier.guest.loop import Loop
from atelier.guest.session import OpError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RUN_DIR = "/run/atelier"
TOKEN_FILE = f"{RUN_DIR}/token"
CGROUP_ROOT = "/sys/fs/cgroup/atelier"
PORT_WAIT_S = 10.0
STOP_SERVICES_S = 5.0


def _console_fds() -> None:
    # The kernel gives PID 1 the console on 0-2; if it could not, use /dev/null so pipes
    # created later never land on 0-2.
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open("/dev/null", os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _serve(agent: Agent, params: cmdline.BootParams) -> list[str]:
    served = []
    vsock = links.listen_vsock(p.VSOCK_PORT) if _has_vsock_device() else None
    if vsock is not None:
        agent.serve_socket(vsock, f"vsock:{p.VSOCK_PORT}")
        served.append(f"vsock:{p.VSOCK_PORT}")
    if params.agent_tcp:
        try:
            agent.serve_socket(
                links.listen_tcp("0.0.0.0", params.agent_tcp), f"tcp:{params.agent_tcp}"
            )
            served.append(f"tcp:{params.agent_tcp}")
        except OSError as exc:
            log.notice(f"cannot listen on tcp port {params.agent_tcp}: {exc.strerror}")
    if _open_port(agent):
        served.append("virtio-serial")
    elif not served:
        _retry_port(agent, time.monotonic() + PORT_WAIT_S)
    return served


def _open_port(agent: Agent) -> bool:
    path = links.find_port(p.PORT_NAME)
    if path is None:
        return False
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    agent.serve_port(fd, fd, f"port:{path}")
    return True


def _retry_port(agent: Agent, deadline: float) -> None:
    if _open_port(agent):
        log.notice("agent listening on virtio-serial")
    elif time.monotonic() > deadline:
        log.notice(f"no virtio-serial port {p.PORT_NAME} and no vsock: the host cannot reach us")
    else:
        agent.loop.call_later(0.1, lambda: _retry_port(agent, deadline))


def boot_setup(params: dict[str, Any]) -> dict[str, Any]:
    """Slow boot steps (in a worker); each failure is recorded and the next step still runs."""
    done: list[str] = []
    errors: list[str] = []

    def step(name: str, func: Any, *args: Any) -> None:
        try:
            func(*args)
            done.append(name)
        except OpError as exc:
            errors.append(f"{name}: {exc.message}")
        except Exception as exc:
            errors.append(f"{name}: {exc}")

    if params.get("hostname"):
        step("hostname", sysconf.set_hostname, params["hostname"])
    net = params["network"]
    if net.get("ip") or net.get("ip6"):
        step("network", sysconf.configure_network, net)
    else:
        step("loopback", _loopback)
    if params.get("resize"):
        step("resize", sysconf.grow_filesystem, params["root"])
    step("identity", _identity, params.get("id") or params.get("hostname"))
    return {"done": done, "errors": errors}


def _loopback() -> None:
    code, _, err = spawn.run_blocking(["ip", "link", "set", "lo", "up"], timeout=10)
    if code != 0:
        raise OpError(p.E_INTERNAL, f"ip link set lo up: {err.decode(errors='replace').strip()}")


def _has_vsock_device(root: str = "/sys/bus/virtio/devices") -> bool:
    """A virtio vsock device (virtio id 19) exists: Firecracker gave us one."""
    try:
        names = os.listdir(root)
    except OSError:
        return False
    return any(read_text(f"{root}/{name}/device") == "0x0013" for name in names)


def _identity(key: str | None) -> None:
    fresh = bool(key) and sysconf.identity_changed(str(key))
    try:
        with open("/etc/machine-id") as fh:
            missing = len(fh.read().strip()) != 32
    except OSError:
        missing = True
    if fresh or missing:
        sysconf.new_machine_id()
    keys = os.path.isdir("/etc/ssh") and not any(
        n.startswith("ssh_host_") and n.endswith("_key") for n in os.listdir("/etc/ssh")
    )
    if fresh or keys:
        sysconf.regenerate_ssh_host_keys()


def _power(agent: Agent, reboot: bool) -> None:
    from atelier.guest.ops_services import supervisor

    log.notice("rebooting" if reboot else "powering off")

    def final() -> None:
        if agent.parts.pop("powering_off", None) is None:
            return  # the timer and the last service stop both call this
        agent.shutdown()
        mounts.power_off(reboot)

    agent.parts["powering_off"] = True

    agent.loop.call_later(STOP_SERVICES_S, final)
    supervisor(agent).stop_all(final)


def _ctrl_alt_del(agent: Agent) -> None:
    if "powering_off" in agent.parts:
        return
    log.notice("Ctrl-Alt-Del: shutting down")
    _power(agent, True)


def main() -> None:
    started = time.monotonic()
    os.umask(0o022)
    os.chdir("/")
    _console_fds()
    errors = mounts.early_mounts()
    raw = read_text("/proc/cmdline")
    params = cmdline.parse(raw)
    log.configure(
        "/var/log/atelier/agent.log", stderr=False, console="/dev/console", verbose=params.debug
    )
    os.makedirs(RUN_DIR, 0o755, exist_ok=True)
    token = params.token or os.urandom(24).hex()
    if not params.token:
        errors.append("no atelier.token= on the kernel command line: every request will be refused")
    write_private(TOKEN_FILE, token.encode())
    errors += mounts.hide_cmdline(cmdline.scrub(raw), f"{RUN_DIR}/cmdline")
    loop = Loop()
    config = AgentConfig(
        token=token, token_file=TOKEN_FILE, system=True, root_device=params.root,
        cgroup_root=CGROUP_ROOT if params.cgroups else None,
    )  # fmt: skip
    agent = Agent(loop, config)
    agent.boot_state = "booting"
    agent.power_hook = lambda reboot: _power(agent, reboot)
    cad_error = mounts.take_ctrl_alt_del()
    if cad_error:
        errors.append(cad_error)
    # Ctrl-Alt-Del is the VMMs' clean-stop request. Both QEMU (-no-reboot) and Firecracker
    # end the VM when the guest reboots, while a Firecracker guest that powers off only halts.
    loop.on_signal(sigs.SIGINT, lambda: _ctrl_alt_del(agent))
    served = _serve(agent, params)
    where = ", ".join(served) or "nothing yet"
    spent = time.monotonic() - started
    log.notice(f"agent up on {where} at {read_uptime():.2f} s ({spent:.2f} s in init)")
    for line in errors:
        log.notice(line)
    agent.boot_errors.extend(errors)
    setup = {
        "hostname": params.hostname, "network": params.network(), "resize": params.resize,
        "root": params.root, "id": params.id,
    }  # fmt: skip
    spawn.fork_call(
        loop, boot_setup, (setup,), lambda r, e: _setup_done(agent, params, r, e), timeout=600
    )
    while True:
        try:
            loop.run()
        except BaseException:  # PID 1 must never exit: that panics the kernel
            log.exception("init loop failed; continuing")


def _setup_done(
    agent: Agent, params: cmdline.BootParams, result: dict[str, Any] | None, error: OpError | None
) -> None:
    problems = [error.message] if error is not None else list((result or {}).get("errors", []))
    for line in problems:
        log.notice(f"boot setup: {line}")
    agent.boot_errors.extend(problems)
    from atelier.guest.ops_services import supervisor

    supervisor(agent).boot(params.services)
    agent.boot_state = "ready" if not agent.boot_errors else "degraded"
    log.notice(f"boot {agent.boot_state} at {read_uptime():.2f} s")
