"""The one way Atelier runs host commands.

`run()` runs a command to completion, `spawn()` starts a long-lived one. Both take argument
lists (never a shell string), rebuild the environment from an allow-list, read stdin from
/dev/null unless input is given, put each child in its own process group and kill that group
on timeout or cancellation. Nothing else in Atelier (apart from the stdlib-only guest) may
start processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import shutil
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from atelier.errors import CommandError, ToolMissing

log = logging.getLogger(__name__)

Arg = str | os.PathLike[str]

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Variables a child may inherit: locale, proxies and CA bundles that package tools need.
_INHERITED = (
    "HOME",
    "TERM",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
)

# Debian package that provides each host tool Atelier calls, for ToolMissing hints.
TOOL_PACKAGES: dict[str, str] = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "mmdebstrap": "mmdebstrap",
    "mkfs.ext4": "e2fsprogs",
    "e2fsck": "e2fsprogs",
    "resize2fs": "e2fsprogs",
    "debugfs": "e2fsprogs",
    "mkfs.btrfs": "btrfs-progs",
    "btrfs": "btrfs-progs",
    "mkfs.xfs": "xfsprogs",
    "xfs_info": "xfsprogs",
    "nft": "nftables",
    "iptables": "iptables",
    "ip6tables": "iptables",
    "ip": "iproute2",
    "bridge": "iproute2",
    "caddy": "caddy",
    "busybox": "busybox-static",
    "lvcreate": "lvm2",
    "lvs": "lvm2",
    "vgs": "lvm2",
    "losetup": "mount",
    "mount": "mount",
    "umount": "mount",
    "cpio": "cpio",
    "lz4": "lz4",
    "zstd": "zstd",
    "dnsmasq": "dnsmasq-base",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "git": "git",
    "chromium": "chromium",
    "make": "make",
    "gcc": "gcc",
    "flex": "flex",
    "bison": "bison",
    "bc": "bc",
    "npm": "npm",
    "node": "nodejs",
    "systemd-analyze": "systemd",
    "pebble": "pebble",
    "psql": "postgresql-client",
    "socat": "socat",
    "chroot": "coreutils",
    "unshare": "util-linux",
    "setpriv": "util-linux",
    "depmod": "kmod",
    "dpkg-deb": "dpkg",
    "dpkg-query": "dpkg",
    "apt-get": "apt",
    "apt-cache": "apt",
    "dumpe2fs": "e2fsprogs",
    "ld": "binutils",
    "python3": "python3",
    "nsenter": "util-linux",
}


@dataclass(frozen=True)
class Completed:
    """The result of a finished command."""

    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        """stdout decoded as UTF-8 (replacing undecodable bytes)."""
        return self.stdout.decode("utf-8", "replace")


def which(tool: str) -> str | None:
    """The absolute path of a host tool, searching the system PATH."""
    return shutil.which(tool, path=SYSTEM_PATH)


def require(tool: str) -> str:
    """The path of `tool`, or ToolMissing naming the Debian package that provides it."""
    path = tool if os.path.isabs(tool) and os.access(tool, os.X_OK) else which(tool)
    if path is None:
        raise ToolMissing(tool, TOOL_PACKAGES.get(os.path.basename(tool)))
    return path


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for a child process: PATH, C.UTF-8 locale, allowed variables."""
    env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    for name in _INHERITED:
        value = os.environ.get(name)
        if value is not None:
            env[name] = value
    if extra:
        env.update(extra)
    return env


def describe(argv: Sequence[Arg], secrets: Sequence[str] = ()) -> str:
    """argv as a shell-quoted string for logs, with secret values replaced by ***."""
    text = shlex.join(os.fspath(a) for a in argv)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _argv(argv: Sequence[Arg]) -> list[str]:
    if not argv:
        raise ValueError("empty argv")
    args = [os.fspath(a) for a in argv]
    args[0] = require(args[0])
    return args


async def run(
    argv: Sequence[Arg],
    *,
    timeout: float,
    check: bool = True,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Arg | None = None,
    secrets: Sequence[str] = (),
    hint: str | None = None,
) -> Completed:
    """Run a command to completion and capture its output.

    Raises CommandError when `check` is set and the command fails or times out, and
    ToolMissing when the program is not installed. On timeout or cancellation the whole
    process group is killed before the error propagates.
    """
    args = _argv(argv)
    log.debug("run: %s", describe(args, secrets))
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(env),
        cwd=os.fspath(cwd) if cwd is not None else None,
        start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(input), timeout)
    except TimeoutError:
        await _kill_group(proc)
        raise CommandError(
            args, -signal.SIGKILL, f"timed out after {timeout:g} s", hint=hint
        ) from None
    except BaseException:
        await _kill_group(proc)
        raise
    assert proc.returncode is not None
    done = Completed(args, proc.returncode, stdout, stderr)
    if check and proc.returncode != 0:
        raise CommandError(args, proc.returncode, stderr.decode("utf-8", "replace"), hint=hint)
    return done


async def spawn(
    argv: Sequence[Arg],
    *,
    stdout: IO[bytes] | int | None = asyncio.subprocess.DEVNULL,
    stderr: IO[bytes] | int | None = asyncio.subprocess.DEVNULL,
    stdin: int | None = asyncio.subprocess.DEVNULL,
    env: Mapping[str, str] | None = None,
    cwd: Arg | None = None,
    pass_fds: Sequence[int] = (),
    secrets: Sequence[str] = (),
) -> asyncio.subprocess.Process:
    """Start a long-lived command in its own session; the caller owns its lifetime.

    The child gets its own session (and so process group), so signals to the caller's group
    never reach it and it can outlive the caller.
    """
    args = _argv(argv)
    log.debug("spawn: %s", describe(args, secrets))
    return await asyncio.create_subprocess_exec(
        *args,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=child_env(env),
        cwd=os.fspath(cwd) if cwd is not None else None,
        start_new_session=True,
        pass_fds=tuple(pass_fds),
    )


async def stop_group(child: asyncio.subprocess.Process, grace_s: float) -> None:
    """SIGTERM the process group of a `spawn()`ed child, SIGKILL it after `grace_s`.

    `spawn()` starts each child in its own session, so its pid is its process group. The
    SIGKILL also happens when the caller is cancelled during the grace period.
    """
    if child.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGTERM)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(child.wait(), grace_s)
    finally:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            await asyncio.shield(child.wait())


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await asyncio.shield(proc.wait())


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (zombies count as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the last ')' (the command name may contain spaces).
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def process_cmdline(pid: int) -> list[str]:
    """A process's argv, or [] when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


async def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until a process (not necessarily our child) exits; False on timeout.

    Uses a pidfd, which becomes readable when the process terminates.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def _exited() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, _exited)
    try:
        await asyncio.wait_for(done, timeout)
        return True
    except TimeoutError:
        return not pid_alive(pid)
    finally:
        loop.remove_reader(fd)
        os.close(fd)
