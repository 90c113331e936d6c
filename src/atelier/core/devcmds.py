"""Dev commands: a sandbox's dev servers, supervised by the guest agent, with live logs and URLs.

Each dev command is a runtime service of the agent (`dev-<name>`: restarted on failure,
output in `/var/log/atelier/dev-<name>.log`) that sources the tmpfs environment (secrets
included) before running the command line. A dev command with a port is published by the
proxy as `dev-<name>-<id>.<domain>` while it runs, with its visibility (private, members,
public) kept per sandbox. The records (`SandboxDevCommand`) are seeded from the workspace
when the sandbox is created; they are also the proxy's directory of dev ports.

Logs stream live: `follow` runs `tail -F` in the guest and yields output as it is written.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from atelier.core.auth import Principal
from atelier.core.events import EventBus
from atelier.core.proxy import DevPortRef, DevRoute, ProxyService, Visibility
from atelier.core.runtime import Runtime
from atelier.core.sandboxes import SandboxService
from atelier.core.workspaces.guest import log_path, service_name, service_spec
from atelier.core.workspaces.model import DevCommand
from atelier.db import Database
from atelier.db.models import SandboxDevCommand
from atelier.db.repos import prebuilds as repo
from atelier.errors import AtelierError, NotFound
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.agent.errors import AgentNotFound
from atelier.runtime.agent.models import ServiceStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DevStatus:
    """A dev command with its state in the guest and its URL."""

    name: str
    command: str
    cwd: str
    port: int | None
    autostart: bool
    visibility: str
    state: str  # running | stopped | exited | failed | backoff | stopping | unknown
    pid: int | None = None
    exit_code: int | None = None
    restarts: int = 0
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class DevCommandService:
    """Start, stop, status and logs of dev commands; the proxy's dev-port directory."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        sandboxes: Callable[[], SandboxService],
        runtime: Callable[[], Runtime | None],
        proxy: ProxyService | None,
    ) -> None:
        self.db = db
        self.bus = bus
        self._sandboxes = sandboxes
        self._runtime = runtime
        self.proxy = proxy

    # set-up by the workspace extension --------------------------------------------------

    async def install(
        self, sandbox_id: str, commands: tuple[DevCommand, ...], client: AgentClient, *, seed: bool
    ) -> None:
        """Define the sandbox's dev commands in the guest and start the autostart ones."""
        async with self.db.session() as session:
            if seed:
                for dev in commands:
                    await repo.put_dev_command(
                        session, sandbox_id, dev.name, dev.to_dict(), dev.visibility
                    )
            rows = await repo.dev_commands(session, sandbox_id)
        for row in rows:
            dev = DevCommand.from_dict(row.spec)
            await client.service_define(service_name(dev.name), service_spec(dev))
        for row in rows:
            if row.spec.get("autostart"):
                await self._start(sandbox_id, row, client)

    async def republish(self, sandbox_id: str, client: AgentClient) -> None:
        """After a resume: publish the routes of the dev commands that run."""
        async with self.db.session() as session:
            rows = await repo.dev_commands(session, sandbox_id)
        for row in rows:
            status = await client.service_status(service_name(row.name))
            if status.state in ("running", "backoff"):
                await self._publish(sandbox_id, row, status)

    async def stopped(self, sandbox_id: str, *, destroyed: bool) -> None:
        """The sandbox stopped (its routes are gone) or was destroyed (forget its commands)."""
        async with self.db.session() as session:
            if destroyed:
                await repo.forget_sandbox(session, sandbox_id)
            else:
                await repo.unpublish_all(session, sandbox_id)

    # the API ----------------------------------------------------------------------------

    async def _guest(self, principal: Principal, sandbox_id: str, name: str | None) -> tuple[
        AgentClient, list[SandboxDevCommand]
    ]:  # fmt: skip
        client = await self._sandboxes().guest(principal, sandbox_id)
        async with self.db.session() as session:
            rows = await repo.dev_commands(session, sandbox_id)
        if name is not None:
            rows = [r for r in rows if r.name == name]
            if not rows:
                raise NotFound(f"sandbox {sandbox_id} has no dev command {name!r}", field="name",
                               hint=f"list them: atelier sandbox dev list {sandbox_id}")  # fmt: skip
        return client, rows

    async def list(self, principal: Principal, sandbox_id: str) -> list[DevStatus]:
        """Every dev command of a running sandbox with its state and URL."""
        client, rows = await self._guest(principal, sandbox_id, None)
        return [await self._status(sandbox_id, row, client) for row in rows]

    async def status(self, principal: Principal, sandbox_id: str, name: str) -> DevStatus:
        """One dev command's state."""
        client, rows = await self._guest(principal, sandbox_id, name)
        return await self._status(sandbox_id, rows[0], client)

    async def start(self, principal: Principal, sandbox_id: str, name: str) -> DevStatus:
        """Start a dev command (publishing its URL when it has a port)."""
        client, rows = await self._guest(principal, sandbox_id, name)
        await self._start(sandbox_id, rows[0], client)
        return await self._status(sandbox_id, rows[0], client)

    async def stop(self, principal: Principal, sandbox_id: str, name: str) -> DevStatus:
        """Stop a dev command and withdraw its URL."""
        client, rows = await self._guest(principal, sandbox_id, name)
        row = rows[0]
        await self._unpublish(sandbox_id, row)
        status = await client.service_stop(service_name(name))
        await self._event(sandbox_id, name, status.state, None)
        return await self._status(sandbox_id, row, client)

    async def restart(self, principal: Principal, sandbox_id: str, name: str) -> DevStatus:
        """Stop, then start."""
        client, rows = await self._guest(principal, sandbox_id, name)
        status = await client.service_restart(service_name(name))
        await self._publish(sandbox_id, rows[0], status)
        return await self._status(sandbox_id, rows[0], client)

    async def logs(
        self,
        principal: Principal,
        sandbox_id: str,
        name: str,
        *,
        offset: int | None,
        tail: int | None,
    ) -> tuple[str, int, int]:
        """(text, next offset, size) of a dev command's log."""
        client, _ = await self._guest(principal, sandbox_id, name)
        try:
            found = await client.service_logs(service_name(name), offset=offset, tail=tail)
        except AgentNotFound:
            return "", 0, 0
        return found.data.decode("utf-8", "replace"), found.next_offset, found.size

    async def follow(
        self, principal: Principal, sandbox_id: str, name: str, *, lines: int = 100
    ) -> AsyncIterator[str]:
        """The last `lines` lines, then every new piece of output as the command writes it."""
        client, _ = await self._guest(principal, sandbox_id, name)
        argv = ["tail", "-n", str(lines), "-F", log_path(name)]
        process = await client.exec_stream(argv, user="root")
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        try:
            async for stream, data in process:
                if stream == "stdout":
                    text = decoder.decode(data)
                    if text:
                        yield text
        finally:
            process.cancel()

    # internals ---------------------------------------------------------------------------

    async def _start(self, sandbox_id: str, row: SandboxDevCommand, client: AgentClient) -> None:
        status = await client.service_start(service_name(row.name))
        await self._publish(sandbox_id, row, status)

    async def _publish(
        self, sandbox_id: str, row: SandboxDevCommand, status: ServiceStatus
    ) -> None:
        port = row.spec.get("port")
        url = None
        runtime = self._runtime()
        if port is not None and runtime is not None and runtime.network is not None:
            endpoint = await runtime.network.endpoint(sandbox_id, int(port))
            if self.proxy is not None:
                url = await self.proxy.dev_started(sandbox_id, row.name, endpoint)
            async with self.db.session() as session:
                current = await repo.dev_command(session, sandbox_id, row.name)
                if current is not None:
                    current.published = True
        await self._event(sandbox_id, row.name, status.state, url)

    async def _unpublish(self, sandbox_id: str, row: SandboxDevCommand) -> None:
        if row.spec.get("port") is None:
            return
        if self.proxy is not None:
            try:
                await self.proxy.dev_stopped(sandbox_id, row.name)
            except AtelierError as exc:
                log.warning(
                    "could not remove the route of %s/%s now: %s", sandbox_id, row.name, exc
                )
        async with self.db.session() as session:
            current = await repo.dev_command(session, sandbox_id, row.name)
            if current is not None:
                current.published = False

    async def _status(
        self, sandbox_id: str, row: SandboxDevCommand, client: AgentClient
    ) -> DevStatus:
        spec = DevCommand.from_dict(row.spec)
        try:
            found = await client.service_status(service_name(row.name))
            state, pid, restarts = found.state, found.pid, found.restarts
            exit_code = (found.exit or {}).get("code") if found.exit else None
        except AgentNotFound:
            state, pid, restarts, exit_code = "undefined", None, 0, None
        url = None
        if spec.port is not None and self.proxy is not None:
            url = self.proxy.dev_url(sandbox_id, row.name)
        return DevStatus(spec.name, spec.command, spec.cwd, spec.port, spec.autostart,
                         row.visibility, state, pid, exit_code, restarts, url)  # fmt: skip

    async def _event(self, sandbox_id: str, name: str, state: str, url: str | None) -> None:
        row = await self._sandboxes().lookup(sandbox_id)
        audience = {row.owner_id, *(m.user_id for m in row.members)} if row else set()
        data = {"id": sandbox_id, "name": name, "state": state, "url": url}
        self.bus.publish("sandbox.dev", data, audience)

    # the proxy's directory of dev ports ----------------------------------------------------

    async def dev_port(self, sandbox_id: str, name: str) -> DevPortRef | None:
        """A dev command's port and visibility (None without a port)."""
        async with self.db.session() as session:
            row = await repo.dev_command(session, sandbox_id, name)
        if row is None or row.spec.get("port") is None:
            return None
        visibility: Visibility = row.visibility  # type: ignore[assignment]  # stored values are checked
        return DevPortRef(sandbox_id, name, int(row.spec["port"]), visibility)

    async def set_dev_visibility(
        self, sandbox_id: str, name: str, visibility: Visibility
    ) -> DevPortRef:
        """Persist who may open a dev URL."""
        async with self.db.session() as session:
            row = await repo.dev_command(session, sandbox_id, name)
            if row is None or row.spec.get("port") is None:
                raise NotFound(f"sandbox {sandbox_id} has no dev port {name!r}", field="name")
            row.visibility = visibility
            port = int(row.spec["port"])
        return DevPortRef(sandbox_id, name, port, visibility)

    async def dev_routes(self, sandbox_id: str) -> tuple[DevRoute, ...]:
        """The published dev ports of a running sandbox, as the network reaches them."""
        runtime = self._runtime()
        if runtime is None or runtime.network is None:
            return ()
        async with self.db.session() as session:
            rows = await repo.published(session, [sandbox_id])
        routes = []
        for row in rows:
            try:
                endpoint = await runtime.network.endpoint(sandbox_id, int(row.spec["port"]))
            except AtelierError:
                continue
            routes.append(DevRoute(row.name, endpoint))
        return tuple(routes)
