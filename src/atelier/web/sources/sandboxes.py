"""Sandboxes for the dashboard: cards, actions, metrics and git status.

Reads and changes go through `SandboxService` with the caller's principal, so the
dashboard applies exactly the API's access rules. Lifecycle actions that take long (a stop
waits for the guest to power off, a start boots it) return after a short wait; the event
stream then moves the card along, and a failure shows up as the sandbox's `error` state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic

from atelier.api.schemas.sandboxes import SandboxCreate
from atelier.core.auth import Principal
from atelier.core.images import ImageService
from atelier.core.manager import Manager
from atelier.core.proxy import ProxyService
from atelier.core.sandboxes import CreateRequest, SandboxView
from atelier.errors import AtelierError, ValidationError

log = logging.getLogger(__name__)

SandboxAction = Literal["stop", "start", "restart", "destroy", "pause", "resume"]
ACTIONS_BY_STATUS: dict[str, tuple[SandboxAction, ...]] = {
    "queued": ("destroy",),
    "creating": (),
    "running": ("stop", "restart", "pause", "destroy"),
    "paused": ("resume", "stop", "destroy"),
    "stopping": (),
    "stopped": ("start", "destroy"),
    "starting": (),
    "error": ("start", "destroy"),
    "destroying": (),
    "destroyed": (),
}
# How long an action may take before the page gets "in progress" and the event stream
# reports the rest.
ACTION_WAIT_S = 2.0


@dataclass(frozen=True)
class SandboxCard:
    """A sandbox as cards and the detail page show it."""

    view: SandboxView
    urls: dict[str, str]  # code / opencode / browser, when the proxy publishes them
    can_manage: bool  # owner or admin: lifecycle, members
    actions: tuple[SandboxAction, ...]

    @property
    def id(self) -> str:
        return self.view.id

    @property
    def label(self) -> str:
        return self.view.name or self.view.id

    @property
    def status(self) -> str:
        return self.view.status

    @property
    def last_step(self) -> str | None:
        steps = self.view.steps
        return str(steps[-1].get("step")) if steps else None


@dataclass(frozen=True)
class MetricsView:
    """Resource use inside a running guest."""

    cpu_percent: float
    cpu_count: int
    load: tuple[float, float, float]
    memory_used: int
    memory_total: int
    disk_used: int
    disk_total: int
    uptime_s: float

    @property
    def memory_percent(self) -> int:
        return round(100 * self.memory_used / self.memory_total) if self.memory_total else 0

    @property
    def disk_percent(self) -> int:
        return round(100 * self.disk_used / self.disk_total) if self.disk_total else 0


@dataclass(frozen=True)
class GitView:
    """Git status of one repository in a sandbox (or why it is unknown)."""

    path: str
    branch: str | None = None
    dirty: bool = False
    ahead: int | None = None
    behind: int | None = None
    staged: int = 0
    unstaged: int = 0
    untracked: int = 0
    added: int = 0
    removed: int = 0
    last_commit: str | None = None
    problem: str | None = None


@dataclass
class SandboxBoard:
    """The dashboard's access to sandboxes."""

    manager: Manager
    proxy: Callable[[], ProxyService | None]
    _pending: set[asyncio.Task[Any]] = field(default_factory=set)

    async def cards(self, principal: Principal, status: str | None = None) -> list[SandboxCard]:
        """The caller's visible sandboxes, newest first."""
        views = await self.manager.sandboxes.list_visible(
            principal, status=[status] if status else None
        )
        return [self._card(principal, v) for v in views]

    async def card(self, principal: Principal, sandbox_id: str) -> SandboxCard:
        """One sandbox (NotFound when the caller may not see it)."""
        return self._card(principal, await self.manager.sandboxes.get(principal, sandbox_id))

    def _card(self, principal: Principal, view: SandboxView) -> SandboxCard:
        proxy = self.proxy()
        urls = proxy.urls(view.id) if proxy is not None and view.status == "running" else {}
        manage = principal.is_admin or view.owner == principal.username
        actions = ACTIONS_BY_STATUS.get(view.status, ()) if manage else ()
        service = self.manager.sandboxes
        actions = tuple(a for a in actions if callable(getattr(service, a, None)))
        return SandboxCard(view, urls, manage, actions)

    def images(self) -> list[str]:
        """Names of built images for the create form, the configured default first."""
        default = self.manager.config.images.default_image
        with contextlib.suppress(AtelierError, OSError):
            names = [row.image.manifest.name for row in ImageService(self.manager.config).images()]
            return sorted(names, key=lambda name: name != default)
        return []

    async def create(self, principal: Principal, form: dict[str, Any]) -> SandboxCard:
        """Queue a new sandbox from the create form's fields."""
        values = {k: v for k, v in form.items() if v not in (None, "")}
        try:
            body = SandboxCreate.model_validate(values)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"])
            raise ValidationError(
                f"{name}: {first['msg']} (got {first.get('input')!r})", field=name
            ) from exc
        view = await self.manager.sandboxes.create(
            principal, CreateRequest(**body.model_dump(exclude_none=True))
        )
        return self._card(principal, view)

    async def act(self, principal: Principal, sandbox_id: str, action: SandboxAction) -> bool:
        """Run a lifecycle action; True when it finished, False when still running."""
        method: Callable[[Principal, str], Coroutine[Any, Any, Any]] | None = getattr(
            self.manager.sandboxes, action, None
        )
        if method is None or action not in ACTIONS_BY_STATUS["running"] + ("start", "resume"):
            raise ValidationError(
                f"action {action!r} is not supported by this manager", field="action"
            )
        return await self._soon(method(principal, sandbox_id), f"{action} {sandbox_id}")

    async def _soon(self, work: Coroutine[Any, Any, Any], label: str) -> bool:
        task = asyncio.create_task(work)
        done, _ = await asyncio.wait({task}, timeout=ACTION_WAIT_S)
        if done:
            task.result()
            return True
        self._pending.add(task)
        task.add_done_callback(self._finished(label))
        return False

    def _finished(self, label: str) -> Callable[[asyncio.Task[Any]], None]:
        def report(task: asyncio.Task[Any]) -> None:
            self._pending.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.warning("dashboard action %s failed: %s", label, task.exception())

        return report

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for actions still running (manager shutdown)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)

    async def metrics(self, principal: Principal, sandbox_id: str) -> MetricsView:
        """Guest metrics (Conflict when the sandbox is not running)."""
        client = await self.manager.sandboxes.guest(principal, sandbox_id)
        m = await client.metrics()
        return MetricsView(
            m.cpu_percent,
            m.cpu_count,
            m.load,
            m.memory_total - m.memory_available,
            m.memory_total,
            m.disk_used,
            m.disk_total,
            m.uptime_s,
        )

    async def git(self, principal: Principal, sandbox_id: str, paths: list[str]) -> list[GitView]:
        """Git status of each path (a problem text where it is not a repository)."""
        client = await self.manager.sandboxes.guest(principal, sandbox_id)
        found = []
        for path in paths:
            try:
                s = await client.git_status(path, user="dev")
            except AtelierError as exc:
                found.append(GitView(path, problem=exc.message))
                continue
            commit = s.last_commit or {}
            found.append(
                GitView(
                    path,
                    s.branch or (f"detached at {s.head[:8]}" if s.head else None),
                    s.dirty,
                    s.ahead,
                    s.behind,
                    s.staged,
                    s.unstaged,
                    s.untracked,
                    s.added,
                    s.removed,
                    str(commit.get("subject") or "") or None,
                )
            )
        return found

    async def add_member(self, principal: Principal, sandbox_id: str, username: str) -> None:
        """Share the sandbox with another user."""
        await self.manager.sandboxes.add_member(principal, sandbox_id, username.strip())

    async def remove_member(self, principal: Principal, sandbox_id: str, username: str) -> None:
        """Take a member's access away."""
        await self.manager.sandboxes.remove_member(principal, sandbox_id, username)
