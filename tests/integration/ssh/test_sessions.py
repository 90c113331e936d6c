"""What Remote-SSH tools do through the gateway, with the real OpenSSH client.

exec with environment, stdin/stderr/exit status, PTY with resize, sftp and scp both ways,
local forwarding to a server "in the guest", agent forwarding on request only.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import signal
import struct
import termios
from pathlib import Path

import pytest

from atelier.runtime.host import proc
from tests.integration.ssh.harness import (
    SANDBOX,
    Rig,
    free_port,
    poll_until,
    remote_dir,
    stop_child,
    wait_for_port,
)

pytestmark = [pytest.mark.root]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_exec_passes_environment_stdin_stderr_and_status(rig: Rig) -> None:
    rig.extra_env["ATL_SENT"] = "from-sendenv"
    done = await rig.ssh(
        rig.alice,
        'echo "$FOO|$ATL_SENT|$ATELIER_USER"; cat; echo oops >&2; exit 7',
        options=["-o", "SetEnv=FOO=bar", "-o", "SendEnv=ATL_SENT"],
        input=b"piped stdin\n",
    )
    assert done.returncode == 7, done.stderr
    assert done.stdout == b"bar|from-sendenv|alice\npiped stdin\n"
    assert done.stderr == b"oops\n"


async def test_pty_is_allocated_on_request(rig: Rig) -> None:
    done = await rig.ssh(rig.alice, "tty; echo TERM=$TERM", options=["-tt"])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("/dev/pts/")
    assert "TERM=" in lines[1]
    plain = await rig.ssh(rig.alice, "tty")
    assert plain.stdout.strip() == b"not a tty"


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class _PtyReader:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""
        self._event = asyncio.Event()
        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, self._read)

    def _read(self) -> None:
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            asyncio.get_running_loop().remove_reader(self.fd)
        self.text += chunk.decode(errors="replace")
        self._event.set()

    async def until(self, needle: str) -> None:
        async with asyncio.timeout(30):
            while needle not in self.text:
                self._event.clear()
                await self._event.wait()

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)


async def test_pty_follows_window_resize(rig: Rig) -> None:
    master, slave = os.openpty()
    _set_size(slave, 30, 100)
    script = 'stty size; while [ "$(stty size)" = "30 100" ]; do sleep 0.1; done; stty size'
    argv = rig.ssh_argv(rig.alice, script, options=["-tt"])
    child = await proc.spawn(argv, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    reader = _PtyReader(master)
    try:
        await reader.until("30 100")
        _set_size(master, 43, 132)
        os.kill(child.pid, signal.SIGWINCH)  # what the kernel sends a terminal's foreground
        await reader.until("43 132")
        assert await asyncio.wait_for(child.wait(), 30) == 0
    finally:
        reader.close()
        await stop_child(child)


async def test_sftp_put_and_get_keep_every_byte(rig: Rig) -> None:
    local = rig.tmp / "up.bin"
    local.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    remote = remote_dir(rig) / "sftp.bin"
    back = rig.tmp / "sftp-back.bin"
    batch = rig.tmp / "batch"
    batch.write_text(f"put {local} {remote}\nget {remote} {back}\n")
    argv = ["sftp", *rig.common(rig.alice), "-P", str(rig.port), "-b", str(batch)]
    done = await proc.run([*argv, f"{SANDBOX}@127.0.0.1"], timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert sha256(remote) == sha256(local) == sha256(back)


@pytest.mark.parametrize("mode", [["-O"], []], ids=["scp-legacy", "scp-sftp"])
async def test_scp_both_ways(rig: Rig, mode: list[str]) -> None:
    local = rig.tmp / "scp-up.bin"
    local.write_bytes(os.urandom(2 * 1024 * 1024 + 5))
    remote = remote_dir(rig) / f"scp{len(mode)}.bin"
    back = rig.tmp / f"scp-back{len(mode)}.bin"
    scp = ["scp", *mode, *rig.common(rig.alice), "-P", str(rig.port)]
    up = await proc.run([*scp, local, f"{SANDBOX}@127.0.0.1:{remote}"], timeout=60, check=False)
    assert up.returncode == 0, up.stderr
    down = await proc.run([*scp, f"{SANDBOX}@127.0.0.1:{remote}", back], timeout=60, check=False)
    assert down.returncode == 0, down.stderr
    assert sha256(remote) == sha256(local) == sha256(back)


async def _guest_server() -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello from the sandbox\n")
        line = await reader.readline()
        writer.write(b"pong: " + line)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


async def test_local_forward_reaches_a_server_in_the_guest(rig: Rig) -> None:
    server, guest_port = await _guest_server()
    local_port = free_port()
    forward = f"127.0.0.1:{local_port}:127.0.0.1:{guest_port}"
    options = ["-N", "-L", forward, "-o", "ExitOnForwardFailure=yes"]
    child = await proc.spawn(rig.ssh_argv(rig.alice, options=options))
    try:
        await wait_for_port(local_port, child)
        reader, writer = await asyncio.open_connection("127.0.0.1", local_port)
        greeting = await asyncio.wait_for(reader.readline(), 30)
        writer.write(b"ping\n")
        reply = await asyncio.wait_for(reader.readline(), 30)
        writer.close()
        assert greeting == b"hello from the sandbox\n"
        assert reply == b"pong: ping\n"
    finally:
        await stop_child(child)
        server.close()
        await server.wait_closed()


async def test_agent_is_forwarded_only_when_asked(rig: Rig) -> None:
    sock = rig.tmp / "agent.sock"
    agent = await proc.spawn(["ssh-agent", "-D", "-a", sock])
    try:
        rig.extra_env["SSH_AUTH_SOCK"] = str(sock)

        async def agent_listens() -> bool:  # ssh-add -l exits 2 until the agent listens
            probe = await proc.run(["ssh-add", "-l"], timeout=10, check=False, env=rig.extra_env)
            return probe.returncode != 2

        await poll_until(agent_listens)
        await proc.run(["ssh-add", rig.bob.key], timeout=30, env=rig.extra_env)
        forwarded = await rig.ssh(rig.alice, "ssh-add -l", options=["-A"])
        assert forwarded.returncode == 0, forwarded.stderr
        assert rig.bob.fingerprint.encode() in forwarded.stdout
        without = await rig.ssh(rig.alice, "ssh-add -l")
        assert without.returncode == 2, without.stdout  # "Could not open a connection"
    finally:
        await stop_child(agent)
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
