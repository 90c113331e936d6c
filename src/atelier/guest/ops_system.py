"""System operations: metrics, clock, entropy, token rotation, power, identity and network.

Operations that change the machine (`time.set`, `poweroff`, `identity.refresh`,
`network.configure`, `fs.grow`) need an agent started with `system=True` (the one inside the
guest init); elsewhere they answer `unsupported`. Slow ones run in a forked worker so the loop
keeps serving.
"""

from __future__ import annotations

import os
import struct
import time

from atelier.guest import protocol as p
from atelier.guest import spawn, sysconf
from atelier.guest.agent import read_text
from atelier.guest.session import OpError, StreamHandler

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from atelier.guest.agent import Agent
    from atelier.guest.session import Args, Stream

RNDADDENTROPY = 0x40085203  # _IOW('R', 0x03, int[2])
RNDRESEEDCRNG = 0x5207  # _IO('R', 0x07)
POWER_DELAY_S = 0.1  # lets the RESPONSE reach the host first


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies from the aggregate line of /proc/stat."""
    line = read_text("/proc/stat").splitlines()[0].split()
    values = [int(v) for v in line[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def _meminfo() -> dict[str, int]:
    info = {}
    for line in read_text("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            info[key] = int(parts[0]) * 1024
    return info


def metrics(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    """CPU use since the previous call (or boot), memory, root disk, load and process counts."""
    busy, total = _cpu_times()
    prev = agent.parts.get("cpu_sample", (0, 0))
    agent.parts["cpu_sample"] = (busy, total)
    span = total - prev[1]
    percent = 100.0 * (busy - prev[0]) / span if span > 0 else 0.0
    mem = _meminfo()
    fs = os.statvfs("/")
    load = read_text("/proc/loadavg").split()
    running, _, procs = (load[3] if len(load) > 3 else "0/0").partition("/")
    return {
        "cpu": {
            "count": os.cpu_count() or 1, "percent": round(percent, 2),
            "load": list(os.getloadavg()),
        },
        "memory": {
            "total": mem.get("MemTotal", 0), "available": mem.get("MemAvailable", 0),
            "free": mem.get("MemFree", 0),
            "used": mem.get("MemTotal", 0) - mem.get("MemAvailable", 0),
            "swap_total": mem.get("SwapTotal", 0), "swap_free": mem.get("SwapFree", 0),
        },
        "disk": {
            "path": "/", "total": fs.f_blocks * fs.f_frsize, "free": fs.f_bavail * fs.f_frsize,
            "used": (fs.f_blocks - fs.f_bfree) * fs.f_frsize,
        },
        "processes": {"running": int(running or 0), "total": int(procs or 0)},
        "uptime_s": float(read_text("/proc/uptime").split()[0]),
    }  # fmt: skip


def time_set(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    """Set the wall clock (after a snapshot restore it is stale)."""
    agent.require_system("time.set")
    unix_ns = args.integer("unix_ns", low=0)
    if unix_ns is None:
        raise OpError(p.E_BAD_REQUEST, "field 'unix_ns' is required", field="unix_ns")
    previous = time.time_ns()
    try:
        time.clock_settime_ns(time.CLOCK_REALTIME, unix_ns)
    except OSError as exc:
        raise OpError(p.E_PERMISSION, f"cannot set the clock: {exc.strerror}") from None
    return {"previous_ns": previous, "now_ns": time.time_ns()}


def entropy_reseed(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    """Mix host randomness into the kernel pool, credit it and force a CRNG reseed.

    Clones restored from one snapshot share RNG state until this runs. Without `system` the
    bytes are only mixed in (no credit, no reseed): a host-run agent leaves the host's RNG be.
    """
    data = args.blob("data")
    if data is None or not 16 <= len(data) <= 4096:
        raise OpError(p.E_BAD_REQUEST, "field 'data' must be 16..4096 random bytes", field="data")
    fd = os.open("/dev/urandom", os.O_WRONLY | os.O_CLOEXEC)
    try:
        if not agent.config.system:
            os.write(fd, data)
            return {"bytes": len(data), "credited_bits": 0, "reseeded": False}
        import fcntl

        try:
            fcntl.ioctl(fd, RNDADDENTROPY, struct.pack("ii", len(data) * 8, len(data)) + data)
            credited = len(data) * 8
        except OSError:
            os.write(fd, data)
            credited = 0
        try:
            fcntl.ioctl(fd, RNDRESEEDCRNG)
            reseeded = True
        except OSError:
            reseeded = False
    finally:
        os.close(fd)
    return {"bytes": len(data), "credited_bits": credited, "reseeded": reseeded}


def token_rotate(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    """Replace the token: from now on requests carrying the old one are refused."""
    token = args.need_text("new_token")
    if not (
        16 <= len(token) <= 512 and token.isascii() and token.isprintable() and " " not in token
    ):
        raise OpError(
            p.E_BAD_REQUEST,
            "new_token must be 16..512 printable ASCII characters without spaces",
            field="new_token",
        )
    agent.set_token(token)
    return {"rotated": True}


def poweroff(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    """Answer, then power off (or reboot) after the response had time to leave."""
    hook = agent.power_hook
    if hook is None:
        raise OpError(p.E_UNSUPPORTED, "this agent cannot power the machine off")
    reboot = args.flag("reboot")
    agent.loop.call_later(POWER_DELAY_S, lambda: hook(reboot))
    return {"accepted": True, "reboot": reboot}


class _WorkerStream(StreamHandler):
    def __init__(self, pid: int) -> None:
        self.pid = pid

    def on_cancel(self, reason: str) -> None:
        spawn.kill_group(self.pid)


def run_in_worker(
    agent: Agent,
    stream: Stream,
    func: Callable[..., dict[str, Any]],
    args: tuple[Any, ...],
    timeout: float,
) -> None:
    """Answer `stream` with `func(*args)` computed in a forked worker."""

    def done(result: dict[str, Any] | None, error: OpError | None) -> None:
        stream.handler = None
        if error is not None:
            stream.fail_with(error)
        else:
            stream.reply(result or {})

    pid = spawn.fork_call(agent.loop, func, args, done, timeout=timeout)
    stream.handler = _WorkerStream(pid)


def identity_refresh(agent: Agent, stream: Stream, args: Args) -> None:
    agent.require_system("identity.refresh")
    request = {
        "hostname": args.text("hostname"), "machine_id": args.flag("machine_id", True),
        "ssh_host_keys": args.flag("ssh_host_keys", True), "network": args.data.get("network"),
        "id": args.text("id"),
    }  # fmt: skip
    run_in_worker(agent, stream, sysconf.refresh_identity, (request,), timeout=120)


def network_configure(agent: Agent, stream: Stream, args: Args) -> None:
    agent.require_system("network.configure")
    net = {key: args.data.get(key) for key in ("ip", "gw", "ip6", "gw6", "mac", "interface")}
    net["dns"] = args.strings("dns") or []
    net["search"] = args.strings("search")
    run_in_worker(agent, stream, sysconf.configure_network, (net,), timeout=60)


def fs_grow(agent: Agent, stream: Stream, args: Args) -> None:
    agent.require_system("fs.grow")
    device = args.text("device") or agent.config.root_device
    run_in_worker(agent, stream, sysconf.grow_filesystem, (device,), timeout=300)
