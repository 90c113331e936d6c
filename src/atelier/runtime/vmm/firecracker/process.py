"""The Firecracker process: run-directory layout, argv (direct or through the jailer), start.

Firecracker always runs with its working directory (or chroot) at the VM's *root*, and every
path Atelier hands to its API is relative to that root (`disk0`, `v.sock`, ...). A snapshot
therefore records only those relative names, so it restores into any other VM root, jailed
or not, without path rewriting. Argument lists are built by pure functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from atelier.runtime.host import proc
from atelier.runtime.vmm.errors import VmmError

# Names inside the VM root, as Firecracker sees them (relative to its cwd or chroot).
API_SOCKET = "run/firecracker.socket"
VSOCK = "v.sock"
LOG = "firecracker.log"
METRICS = "metrics.json"
KERNEL = "kernel"
INITRD = "initrd"
SNAPSHOT_STATE = "snapshot.state"
SNAPSHOT_MEM = "snapshot.mem"
# The jailer writes the Firecracker pid here, named after the exec file.
JAILER_PID_FILE = "firecracker.pid"
JAILED_API_SOCKET = "/" + API_SOCKET

UNIX_PATH_MAX = 107  # sun_path holds 108 bytes including the trailing NUL


def disk_name(index: int) -> str:
    """The name of the n-th drive inside the VM root (also its Firecracker drive_id)."""
    return f"disk{index}"


@dataclass(frozen=True)
class VmLayout:
    """Where one VM's files live on the host.

    `run_dir` holds what only the host reads (console log, `vm.json`). `root` is
    Firecracker's view: the run directory itself when started directly, the jail's
    `<chroot_base>/firecracker/<name>/root` under the jailer.
    """

    name: str
    run_dir: Path
    root: Path
    jailed: bool

    @property
    def api_socket(self) -> Path:
        """The API socket, as the host reaches it."""
        return self.root / API_SOCKET

    @property
    def vsock(self) -> Path:
        """The hybrid vsock Unix socket, as the host reaches it."""
        return self.root / VSOCK

    @property
    def console(self) -> Path:
        """Firecracker's stdout and stderr: the guest serial console."""
        return self.run_dir / "console.log"

    @property
    def state(self) -> Path:
        """The handle of the running VM, for `adopt`."""
        return self.run_dir / "vm.json"

    @property
    def log(self) -> Path:
        """Firecracker's own log."""
        return self.root / LOG

    @property
    def metrics(self) -> Path:
        """Firecracker's metrics, one JSON object per flush."""
        return self.root / METRICS

    @property
    def jail_dir(self) -> Path | None:
        """`<chroot_base>/firecracker/<name>`, the directory the jailer made (jailed only)."""
        return self.root.parent if self.jailed else None

    def check_socket_paths(self) -> None:
        """Refuse roots whose sockets would not fit in a Unix socket address."""
        for path in (self.api_socket, self.vsock):
            if len(os.fsencode(path)) > UNIX_PATH_MAX:
                raise VmmError(
                    f"socket path {path} is {len(os.fsencode(path))} bytes; Unix sockets allow"
                    f" at most {UNIX_PATH_MAX}",
                    hint="use a shorter paths.run_dir or vmm.jailer_chroot_base",
                )


def firecracker_argv(binary: str | Path, *, api_socket: str, vm_id: str) -> list[str]:
    """Start Firecracker directly."""
    return [os.fspath(binary), "--api-sock", api_socket, "--id", vm_id]


def jailer_argv(
    jailer: str | Path,
    *,
    exec_file: str | Path,
    vm_id: str,
    uid: int,
    gid: int,
    chroot_base: Path,
    cgroups: Mapping[str, str] = {},
    netns: Path | None = None,
    daemonize: bool = False,
    new_pid_ns: bool = True,
) -> list[str]:
    """Start Firecracker through the jailer (chroot, uid/gid, cgroup v2 limits, pid ns).

    Without `--daemonize` the jailed Firecracker keeps our stdout, which is the serial
    console; the jailer passes `--id` on to Firecracker itself.
    """
    argv = [
        os.fspath(jailer),
        "--id", vm_id,
        "--exec-file", os.fspath(exec_file),
        "--uid", str(uid),
        "--gid", str(gid),
        "--chroot-base-dir", os.fspath(chroot_base),
        "--cgroup-version", "2",
    ]  # fmt: skip
    for key, value in cgroups.items():
        argv += ["--cgroup", f"{key}={value}"]
    if netns is not None:
        argv += ["--netns", os.fspath(netns)]
    if daemonize:
        argv.append("--daemonize")
    if new_pid_ns:
        argv.append("--new-pid-ns")
    return [*argv, "--", "--api-sock", JAILED_API_SOCKET]


async def start(argv: Sequence[str], layout: VmLayout) -> asyncio.subprocess.Process:
    """Spawn Firecracker (or the jailer) in its own session, console to `layout.console`."""
    with layout.console.open("ab") as console:
        try:
            return await proc.spawn(argv, stdout=console, stderr=console, cwd=layout.root)
        except OSError as exc:
            raise VmmError(
                f"cannot start {argv[0]}: {exc.strerror or exc}",
                hint="check the binary (`atelier install firecracker`) and its architecture",
            ) from exc


async def jailed_pid(process: asyncio.subprocess.Process, layout: VmLayout, timeout: float) -> int:
    """The pid of the jailed Firecracker, which the jailer writes into the jail root."""
    pid_file = layout.root / JAILER_PID_FILE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(pid_file.read_text().strip())
        if process.returncode is not None and process.returncode != 0:
            break
        await asyncio.sleep(0.01)
    raise VmmError(
        f"the jailer did not start Firecracker for {layout.name}"
        f" (exit {process.returncode}): {console_tail(layout)}",
        hint=f"see {layout.console}",
    )


async def wait_for_api(layout: VmLayout, pid: int, timeout: float) -> None:
    """Wait until the API socket accepts connections; fail early when Firecracker exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _connectable(layout.api_socket):
            return
        if not proc.pid_alive(pid):
            raise VmmError(
                f"Firecracker for {layout.name} exited during start-up: {console_tail(layout)}",
                hint=f"see {layout.console}",
            )
        await asyncio.sleep(0.005)
    raise VmmError(
        f"Firecracker for {layout.name} did not open {layout.api_socket} within {timeout:g} s",
        hint=f"see {layout.console}",
    )


def _connectable(path: Path) -> bool:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(os.fspath(path))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def console_tail(layout: VmLayout, lines: int = 5) -> str:
    """The last lines of the console log, for error messages."""
    try:
        text = layout.console.read_text(errors="replace")
    except OSError:
        return "(no console output)"
    tail = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(tail) if tail else "(no console output)"


def is_ours(pid: int, name: str) -> bool:
    """True when `pid` lives and is Firecracker for VM `name` (a recycled pid is not)."""
    argv = proc.process_cmdline(pid)
    return proc.pid_alive(pid) and any(name in part for part in argv)
