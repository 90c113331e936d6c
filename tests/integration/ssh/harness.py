"""A real OpenSSH "sandbox" and a running gateway, for tests and the gateway benchmark.

The sandbox is a throwaway `sshd` on a loopback port (root login, key only, its own host key
and authorized_keys file in a tmp dir) configured like the guest image should be: AcceptEnv,
internal-sftp, agent and TCP forwarding allowed. The gateway runs in the caller's event loop
with a temporary SQLite database and an in-memory sandbox directory. Everything started
here is stopped in `finally` blocks, also when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atelier.config import AtelierConfig, PathsConfig
from atelier.core.auth import AuthService
from atelier.core.secrets import SecretBox
from atelier.core.ssh import SshService
from atelier.db import Database
from atelier.db.session import sqlite_url
from atelier.runtime.host import proc
from atelier.runtime.network.base import Endpoint
from atelier.runtime.ssh.acl import SandboxRef
from atelier.runtime.ssh.config import SshConfig
from tests.fakes.ssh import FakeClock, FakeSandboxDirectory

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")
SANDBOX = "sbxaaaaa"


def skip_reason() -> str | None:
    """Why the real-sshd tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root to run a throwaway sshd as the sandbox"
    if not SSHD.exists():
        return "needs openssh-server (/usr/sbin/sshd)"
    for tool in ("ssh", "sftp", "scp", "ssh-keygen", "ssh-agent", "ssh-add"):
        if proc.which(tool) is None:
            return f"needs openssh-client ({tool})"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def poll_until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 30) -> None:
    """Wait until `check()` is true (host processes and audit writes have no event to await)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _attempt in itertools.count():
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)


async def wait_for_port(port: int, child: asyncio.subprocess.Process | None = None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if (child is not None and child.returncode is not None) or loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)
        else:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return


async def stop_child(child: asyncio.subprocess.Process) -> None:
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(child.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            await child.wait()


SSHD_CONFIG = """\
ListenAddress 127.0.0.1:{port}
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
AllowUsers root
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AcceptEnv *
AllowAgentForwarding yes
AllowTcpForwarding local
X11Forwarding no
PrintMotd no
PrintLastLog no
UseDNS no
MaxSessions 20
MaxStartups 50
LogLevel VERBOSE
Subsystem sftp internal-sftp
"""


@dataclass
class TargetSshd:
    """The sshd standing in for a guest."""

    port: int
    directory: Path
    authorized_keys: Path
    log: Path


@contextmanager
def privsep_dir() -> Iterator[None]:
    """sshd insists on /run/sshd; create it only if missing, and remove only what we made."""
    created = not PRIVSEP_DIR.exists()
    if created:
        PRIVSEP_DIR.mkdir(mode=0o755)
    try:
        yield
    finally:
        if created:
            with contextlib.suppress(OSError):
                PRIVSEP_DIR.rmdir()


@asynccontextmanager
async def running_sshd(directory: Path) -> AsyncIterator[TargetSshd]:
    """An sshd standing in for a guest, with its files in `directory` (give it mode 0700)."""
    await proc.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", directory / "ssh_host_ed25519_key"],
        timeout=30,
    )
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(SSHD_CONFIG.format(port=port, dir=directory))
    authorized = directory / "authorized_keys"
    authorized.write_text("")
    log = directory / "sshd.log"
    with log.open("wb") as log_file:
        child = await proc.spawn([SSHD, "-D", "-e", "-f", config], stderr=log_file)
    try:
        await wait_for_port(port, child)
        yield TargetSshd(port, directory, authorized, log)
    finally:
        await stop_child(child)


@dataclass
class Person:
    """A user with a key file for the OpenSSH client."""

    user_id: str
    username: str
    key: Path
    fingerprint: str = ""


@dataclass
class Rig:
    """Gateway + database + fake directory + sshd, and a way to run OpenSSH tools."""

    service: SshService
    db: Database
    directory: FakeSandboxDirectory
    clock: FakeClock
    target: TargetSshd
    tmp: Path
    alice: Person
    bob: Person
    known_hosts: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.service.port

    def common(self, person: Person, log_level: str = "ERROR") -> list[str]:
        # IdentityAgent is left to $SSH_AUTH_SOCK, which proc.run's environment only has
        # when a test sets it in extra_env (agent forwarding).
        return [
            "-F", "/dev/null",
            "-i", str(person.key),
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"LogLevel={log_level}",
        ]  # fmt: skip

    def ssh_argv(
        self,
        person: Person,
        *args: str,
        sandbox: str = SANDBOX,
        options: Sequence[str] = (),
        log_level: str = "ERROR",
    ) -> list[str]:
        argv = ["ssh", *self.common(person, log_level), *options, "-p", str(self.port)]
        return [*argv, f"{sandbox}@127.0.0.1", *args]

    async def ssh(
        self,
        person: Person,
        *args: str,
        sandbox: str = SANDBOX,
        options: Sequence[str] = (),
        input: bytes | None = None,
        timeout: float = 60,
        log_level: str = "ERROR",
    ) -> proc.Completed:
        argv = self.ssh_argv(person, *args, sandbox=sandbox, options=options, log_level=log_level)
        return await proc.run(argv, timeout=timeout, check=False, input=input, env=self.extra_env)


async def _make_person(auth: AuthService, service: SshService, tmp: Path, name: str) -> Person:
    user = await auth.create_user(name)
    key = tmp / f"id_{name}"
    await proc.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key], timeout=30
    )
    view = await service.keys.add(user.id, (tmp / f"id_{name}.pub").read_text(), name="laptop")
    return Person(user.id, name, key, view.fingerprint)


@asynccontextmanager
async def running_rig(target: TargetSshd, tmp: Path, **ssh: Any) -> AsyncIterator[Rig]:
    """Gateway + database + users alice (owner of SANDBOX) and bob, keys injected into `target`.

    `ssh` overrides gateway settings (SshConfig fields).
    """
    data = tmp / "data"
    data.mkdir(mode=0o700)
    settings: dict[str, Any] = {"listen_host": "127.0.0.1", "port": 0, "guest_user": "root"}
    config = AtelierConfig(
        paths=PathsConfig(data_dir=data, cache_dir=tmp / "cache", run_dir=tmp / "run"),
        ssh=SshConfig(**(settings | {"keepalive_interval_s": 5} | ssh)),
    )
    db = Database(sqlite_url(data))
    service: SshService | None = None
    try:
        await db.migrate()
        clock = FakeClock()
        directory = FakeSandboxDirectory()
        service = SshService(config, db, SecretBox.from_data_dir(data), directory, clock=clock)
        auth = AuthService(db)
        alice = await _make_person(auth, service, tmp, "alice")
        bob = await _make_person(auth, service, tmp, "bob")
        endpoint = Endpoint("tcp", "127.0.0.1", target.port)
        directory.add(SandboxRef(SANDBOX, alice.user_id, name="web"), endpoint)
        material = await service.guest_key_material(SANDBOX)
        target.authorized_keys.write_text(material.authorized_keys_line + "\n")
        await service.start()
        known_hosts = tmp / "known_hosts"
        yield Rig(service, db, directory, clock, target, tmp, alice, bob, known_hosts)
    finally:
        if service is not None:
            await service.stop()
        await db.close()
        target.authorized_keys.write_text("")


def remote_dir(rig: Rig) -> Path:
    """A directory the "guest" (the target sshd, running on this host) may write to."""
    path = rig.tmp / "remote"
    path.mkdir(exist_ok=True)
    return path
