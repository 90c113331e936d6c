"""`AgentClient`: the host's asyncio client for one VM's guest agent.

One client multiplexes any number of concurrent calls over one connection. When the
connection drops, calls in flight fail with `AgentDisconnected` and the next call dials again
(with a fresh handshake), so callers simply retry. Every request carries the VM's token;
`rotate_token()` switches the client to the new one.

    client = await AgentClient.wait_ready(endpoint, token, time.monotonic() + 90)
    result = await client.exec(["git", "status"], cwd="/home/dev/workspace", user="dev")
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Sequence
from typing import Any

from atelier.guest import protocol as p
from atelier.runtime.agent.connector import AgentConnector
from atelier.runtime.agent.errors import AgentError, AgentTimeout
from atelier.runtime.agent.models import (
    DirEntry,
    ExecResult,
    FileChange,
    FileStat,
    GitStatus,
    Health,
    Metrics,
    PtyInfo,
    ServiceLogs,
    ServiceStatus,
)
from atelier.runtime.agent.mux import DATA, END, EVENT
from atelier.runtime.agent.process import ExecProcess, PtyHandle, first_event


class AgentClient(AgentConnector):
    """Calls into one guest agent (see `AgentConnector` for connecting and retrying)."""

    async def health(self) -> Health:
        return Health.from_reply(await self.call("health"))

    async def metrics(self) -> Metrics:
        return Metrics.from_reply(await self.call("metrics"))

    # processes
    async def exec_stream(
        self,
        argv: Sequence[str] | None = None,
        *,
        shell: str | None = None,
        login: bool = False,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        timeout: float | None = None,
        stdin: bool = False,
        keep_background: bool = False,
    ) -> ExecProcess:
        """Start a command; output streams as it is produced. `timeout` kills its whole tree."""
        args: dict[str, Any] = {"argv": list(argv) if argv is not None else None, "shell": shell}
        args.update(login=login, cwd=cwd, env=env, user=user, timeout=timeout, stdin=stdin)
        args["keep_background"] = keep_background
        stream = await self.open_stream("exec", {k: v for k, v in args.items() if v is not None})
        try:
            async with asyncio.timeout(self.timeout):
                started = await first_event(stream)
        except TimeoutError:
            stream.cancel()
            raise AgentTimeout(
                f"exec: {self.name} did not start the command in {self.timeout:g} s"
            ) from None
        return ExecProcess(stream, int(started.get("pid", 0)))

    async def exec(
        self,
        argv: Sequence[str] | None = None,
        *,
        shell: str | None = None,
        login: bool = False,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        timeout: float | None = None,
        input: bytes | None = None,
        keep_background: bool = False,
        max_output: int = 64 << 20,
    ) -> ExecResult:
        """Run a command to completion; collects output (each stream capped at `max_output`).

        `timeout` is enforced in the guest and kills the command's whole process tree.
        """
        proc = await self.exec_stream(
            argv, shell=shell, login=login, cwd=cwd, env=env, user=user, timeout=timeout,
            stdin=input is not None, keep_background=keep_background,
        )  # fmt: skip
        # Input is fed while output is read: a command like `cat` stalls otherwise.
        feeder = asyncio.create_task(_feed(proc, input)) if input is not None else None
        out, err = bytearray(), bytearray()
        try:
            async for name, data in proc:
                buf = out if name == "stdout" else err
                if len(buf) < max_output:
                    buf += data[: max_output - len(buf)]
            result = await proc.wait()
        finally:
            if feeder is not None:
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feeder
        return ExecResult(
            result.exit_code,
            result.signal,
            result.timed_out,
            bytes(out),
            bytes(err),
            result.pid,
            result.duration_s,
        )

    # files
    async def read_file(
        self, path: str, *, offset: int = 0, length: int | None = None, max_size: int | None = None
    ) -> bytes:
        """The file's bytes (binary-safe); AgentTooLarge beyond `max_size`."""
        chunks = []
        async for chunk in self.read_file_stream(
            path, offset=offset, length=length, max_size=max_size
        ):
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_file_stream(self, path: str, **kw: Any) -> AsyncIterator[bytes]:
        """The file's bytes in chunks, paced by the consumer."""
        args = {"path": path} | {k: v for k, v in kw.items() if v is not None}
        stream = await self.open_stream("file.read", args)
        while True:
            kind, channel, payload = await stream.next_item()
            if kind == DATA:
                stream.consumed(channel, len(payload))
                yield payload
            elif kind == END:
                await self._result(stream, self.timeout)
                return

    async def write_file(
        self,
        path: str,
        data: bytes | AsyncIterable[bytes],
        *,
        mode: int | None = None,
        owner: str | int | None = None,
        mkdirs: bool = True,
        append: bool = False,
        sync: bool = False,
    ) -> int:
        """Write a file atomically (temp file + rename); returns the byte count."""
        args: dict[str, Any] = {"path": path, "mode": mode, "owner": owner, "mkdirs": mkdirs}
        args.update(append=append, sync=sync)
        if isinstance(data, bytes):
            args["size"] = len(data)
        stream = await self.open_stream(
            "file.write", {k: v for k, v in args.items() if v is not None}
        )
        try:
            if isinstance(data, bytes):
                await stream.send(p.CH_IN, data)
            else:
                async for chunk in data:
                    await stream.send(p.CH_IN, chunk)
            stream.send_eof(p.CH_IN)
        except AgentError:
            pass  # the agent refused early; its RESPONSE says why
        result = await self._result(stream, self.timeout)
        return int(result.get("bytes", 0))

    async def watch_files(
        self, paths: Sequence[str], *, interval: float = 1.0
    ) -> AsyncGenerator[list[FileChange], None]:
        """Changes of `paths` as the agent notices them, the current state first.

        The agent checks the paths itself every `interval` seconds, so following a file costs
        the host nothing while it does not change. Runs until the caller stops iterating
        (which cancels the watch) or the connection drops (AgentDisconnected). Agents of
        protocol 1 answer AgentUnsupported.
        """
        stream = await self.open_stream("file.watch", {"paths": list(paths), "interval": interval})
        try:
            while True:
                kind, _channel, payload = await stream.next_item()
                if kind == EVENT and isinstance(payload, dict):
                    yield [FileChange.from_reply(c) for c in payload.get("changes") or ()]
                elif kind == END:
                    await self._result(stream, self.timeout)
                    return
        finally:
            stream.cancel()

    async def list_dir(self, path: str, *, limit: int | None = None) -> list[DirEntry]:
        reply = await self.call("file.list", {"path": path, **({"limit": limit} if limit else {})})
        return [
            DirEntry(e["name"], FileStat.from_reply(e, os.path.join(path, e["name"])))
            for e in reply["entries"]
        ]

    async def stat(self, path: str, *, follow: bool = True) -> FileStat:
        return FileStat.from_reply(
            await self.call("file.stat", {"path": path, "follow": follow}), path
        )

    async def mkdir(
        self, path: str, *, mode: int = 0o755, owner: str | int | None = None, parents: bool = True
    ) -> list[str]:
        args = {"path": path, "mode": mode, "parents": parents} | (
            {"owner": owner} if owner is not None else {}
        )
        return list((await self.call("file.mkdir", args))["created"])

    async def remove(self, path: str, *, recursive: bool = False, missing_ok: bool = False) -> bool:
        args = {"path": path, "recursive": recursive, "missing_ok": missing_ok}
        return bool((await self.call("file.remove", args))["removed"])

    # terminals
    async def pty_open(
        self,
        argv: Sequence[str] | None = None,
        *,
        shell: str | None = None,
        user: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        cols: int = 80,
        rows: int = 24,
        term: str | None = None,
        scrollback: int | None = None,
    ) -> PtyHandle:
        """Start a program on a PTY (a login shell by default) and attach to it."""
        args: dict[str, Any] = {
            "argv": list(argv) if argv else None,
            "shell": shell,
            "user": user,
            "env": env,
        }
        args.update(cwd=cwd, cols=cols, rows=rows, term=term, scrollback=scrollback)
        stream = await self.open_stream(
            "pty.open", {k: v for k, v in args.items() if v is not None}
        )
        return PtyHandle(stream, await first_event(stream))

    async def pty_attach(self, session: str, *, replay: bool = True) -> PtyHandle:
        """Attach to a running session; `replay` first sends its scrollback."""
        stream = await self.open_stream("pty.attach", {"session": session, "replay": replay})
        return PtyHandle(stream, await first_event(stream))

    async def pty_close(self, session: str, *, signal: int | str = "HUP") -> None:
        await self.call("pty.close", {"session": session, "signal": signal})

    async def pty_list(self) -> list[PtyInfo]:
        return [PtyInfo.from_reply(s) for s in (await self.call("pty.list"))["sessions"]]

    # system
    async def set_time(self, unix_ns: int | None = None) -> dict[str, Any]:
        """Set the guest clock (to the host's now by default)."""
        return await self.call(
            "time.set", {"unix_ns": time.time_ns() if unix_ns is None else unix_ns}
        )

    async def reseed(self, nbytes: int = 64) -> dict[str, Any]:
        """Feed host randomness to the guest kernel RNG and force a reseed."""
        return await self.call("entropy.reseed", {"data": os.urandom(nbytes)})

    async def rotate_token(self, new_token: str) -> None:
        """Replace the VM's token; the old one is refused from now on."""
        await self.call("token.rotate", {"new_token": new_token})
        self.token = new_token

    async def configure_network(
        self,
        *,
        ip: str | None = None,
        gw: str | None = None,
        dns: Sequence[str] = (),
        ip6: str | None = None,
        gw6: str | None = None,
        mac: str | None = None,
        interface: str | None = None,
    ) -> dict[str, Any]:
        args = {
            "ip": ip,
            "gw": gw,
            "dns": list(dns),
            "ip6": ip6,
            "gw6": gw6,
            "mac": mac,
            "interface": interface,
        }
        return await self.call(
            "network.configure", {k: v for k, v in args.items() if v is not None}, timeout=90
        )

    async def refresh_identity(
        self,
        *,
        hostname: str | None = None,
        sandbox_id: str | None = None,
        machine_id: bool = True,
        ssh_host_keys: bool = True,
        network: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """After a snapshot restore: new hostname, machine-id, SSH host keys and network."""
        args: dict[str, Any] = {"hostname": hostname, "id": sandbox_id, "network": network}
        args.update(machine_id=machine_id, ssh_host_keys=ssh_host_keys)
        return await self.call(
            "identity.refresh", {k: v for k, v in args.items() if v is not None}, timeout=150
        )

    async def grow_fs(self, device: str | None = None) -> dict[str, Any]:
        return await self.call("fs.grow", {"device": device} if device else {}, timeout=330)

    async def poweroff(self, *, reboot: bool = False) -> None:
        await self.call("poweroff", {"reboot": reboot})

    # git and services
    async def git_status(self, path: str, *, user: str | None = None) -> GitStatus:
        args = {"path": path} | ({"user": user} if user else {})
        return GitStatus.from_reply(await self.call("git.status", args, timeout=150))

    async def service_list(self) -> list[ServiceStatus]:
        return [ServiceStatus.from_reply(s) for s in (await self.call("service.list"))["services"]]

    async def service_status(self, name: str) -> ServiceStatus:
        return ServiceStatus.from_reply(await self.call("service.status", {"name": name}))

    async def service_start(self, name: str) -> ServiceStatus:
        return ServiceStatus.from_reply(await self.call("service.start", {"name": name}))

    async def service_stop(self, name: str) -> ServiceStatus:
        return ServiceStatus.from_reply(
            await self.call("service.stop", {"name": name}, timeout=120)
        )

    async def service_restart(self, name: str) -> ServiceStatus:
        return ServiceStatus.from_reply(
            await self.call("service.restart", {"name": name}, timeout=120)
        )

    async def service_logs(
        self,
        name: str,
        *,
        offset: int | None = None,
        tail: int | None = None,
        limit: int | None = None,
    ) -> ServiceLogs:
        args = {"name": name, "offset": offset, "tail": tail, "limit": limit}
        r = await self.call("service.logs", {k: v for k, v in args.items() if v is not None})
        return ServiceLogs(
            bytes(r["data"]), int(r["offset"]), int(r["next_offset"]), int(r["size"])
        )

    async def service_define(self, name: str, spec: dict[str, Any]) -> ServiceStatus:
        """Create or replace a run-time service (e.g. a dev command); see docs/agent-protocol.md."""
        return ServiceStatus.from_reply(
            await self.call("service.define", {"name": name, "spec": spec})
        )

    async def service_remove(self, name: str) -> None:
        await self.call("service.remove", {"name": name}, timeout=120)


async def _feed(proc: ExecProcess, data: bytes) -> None:
    try:
        await proc.write(data)
        proc.close_stdin()
    except AgentError:
        pass  # the command ended without reading everything; its result tells the rest
