"""Sandbox monitors: the manager follows every running sandbox's OpenCode, not a browser.

One `SandboxMonitor` per sandbox with OpenCode runs an `EventFollower` (event stream with
reconnect, backoff and a polling fallback). Attention events go to the attention feed at
once; anything that can change a task's progress (sessions, statuses, todos, file edits)
asks for a debounced *re-read*: a `Snapshot` of every directory's sessions, statuses and
pending requests, handed to the attention feed and the task tracker. Monitors are started
when OpenCode becomes ready, after a manager restart for every running sandbox, and
stopped with the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from atelier.core.attention import AttentionService
from atelier.core.tasks.guest import OpencodeAccess
from atelier.errors import AtelierError
from atelier.runtime.opencode import (
    Backoff,
    EventFollower,
    OpencodeApi,
    OpencodeEvent,
    Pending,
    PermissionRequest,
    QuestionRequest,
    Session,
    SessionStatus,
)

log = logging.getLogger(__name__)
DEBOUNCE_S = 0.25
REREAD_EVENTS = frozenset(
    {
        "session.created",
        "session.updated",
        "session.deleted",
        "session.status",
        "session.idle",
        "session.error",
        "todo.updated",
        "file.edited",
        "session.diff",
        "permission.asked",
        "permission.replied",
        "question.asked",
        "question.replied",
        "question.rejected",
    }
)
FILE_EVENTS = frozenset({"file.edited", "session.diff", "session.idle"})


@dataclass(frozen=True)
class Snapshot:
    """One sandbox's OpenCode state across directories, read in one go."""

    sandbox_id: str
    sessions: tuple[Session, ...]
    statuses: dict[str, SessionStatus]
    pending: Pending
    at: float = field(default_factory=time.time)


async def read_snapshot(sandbox_id: str, api: OpencodeApi) -> Snapshot:
    """Sessions of every directory, and each directory's statuses and pending requests."""
    sessions = await api.sessions()
    directories = sorted({s.directory for s in sessions if s.directory})
    statuses: dict[str, SessionStatus] = {}
    permissions: list[PermissionRequest] = []
    questions: list[QuestionRequest] = []
    for directory in directories:
        statuses.update(await api.statuses(directory))
        pending = await api.pending(directory)
        permissions += pending.permissions
        questions += pending.questions
    return Snapshot(
        sandbox_id, tuple(sessions), statuses, Pending(tuple(permissions), tuple(questions))
    )


SnapshotHandler = Callable[[Snapshot, bool], Awaitable[None]]


class SandboxMonitor:
    """Follows one sandbox's OpenCode until stopped."""

    def __init__(
        self,
        sandbox_id: str,
        api: OpencodeApi,
        attention: AttentionService,
        on_snapshot: SnapshotHandler,
        follower: EventFollower | None = None,
        min_interval: float = 1.0,
    ) -> None:
        self.sandbox_id = sandbox_id
        self.min_interval = min_interval
        self.api = api
        self._attention = attention
        self._on_snapshot = on_snapshot
        self.follower = follower or EventFollower(api, self._on_event, self.reread)
        self._wanted = asyncio.Event()
        self._files_dirty = True
        self._tasks: list[asyncio.Task[None]] = []
        self._read_lock = asyncio.Lock()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.follower.run(), name=f"opencode-follow-{self.sandbox_id}"),
            asyncio.create_task(self._debounced(), name=f"opencode-reread-{self.sandbox_id}"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def kick(self, files: bool = False) -> None:
        """Ask for a re-read soon (several kicks in a short time make one)."""
        self._files_dirty = self._files_dirty or files
        self._wanted.set()

    async def _debounced(self) -> None:
        loop = asyncio.get_running_loop()
        last = 0.0
        while True:
            await self._wanted.wait()
            # Several events make one re-read, and re-reads keep a distance, so a busy agent
            # is not slowed down by the manager reading its state all the time.
            await asyncio.sleep(max(DEBOUNCE_S, last + self.min_interval - loop.time()))
            self._wanted.clear()
            last = loop.time()
            try:
                await self.reread()
            except AtelierError as exc:
                log.debug("%s: re-read failed: %s", self.sandbox_id, exc.message)
            except Exception:
                log.exception("%s: re-read failed", self.sandbox_id)

    async def reread(self) -> None:
        """Read everything and hand it on (the follower calls this on every reconnect)."""
        async with self._read_lock:
            snapshot = await read_snapshot(self.sandbox_id, self.api)
            files, self._files_dirty = self._files_dirty, False
            await self._on_snapshot(snapshot, files)  # first: it maps sessions to tasks
            await self._attention.sync(self.sandbox_id, snapshot.pending)

    async def _on_event(self, event: OpencodeEvent) -> None:
        kind, props, directory = event.type, event.properties, event.directory or ""
        if kind == "permission.asked":
            await self._attention.permission_asked(
                self.sandbox_id, PermissionRequest.parse(props, directory)
            )
        elif kind == "question.asked":
            await self._attention.question_asked(
                self.sandbox_id, QuestionRequest.parse(props, directory)
            )
        elif kind in ("permission.replied", "question.replied", "question.rejected"):
            request_id = props.get("requestID") or props.get("permissionID")
            if isinstance(request_id, str):
                reply = props.get("reply") if kind == "permission.replied" else kind.split(".")[1]
                await self._attention.answered(
                    self.sandbox_id, request_id, reply if isinstance(reply, str) else None
                )
        if kind in REREAD_EVENTS:
            self.kick(files=kind in FILE_EVENTS)


class MonitorHub:
    """The monitors of all running sandboxes with OpenCode."""

    def __init__(
        self,
        access: OpencodeAccess,
        attention: AttentionService,
        on_snapshot: Callable[[Snapshot, bool], Awaitable[None]],
    ) -> None:
        self._access = access
        self._attention = attention
        self._on_snapshot = on_snapshot
        self.monitors: dict[str, SandboxMonitor] = {}

    async def watch(self, sandbox_id: str) -> SandboxMonitor:
        """Start following a sandbox (idempotent)."""
        found = self.monitors.get(sandbox_id)
        if found is not None:
            return found
        api = await self._access.client(sandbox_id)
        config = self._access.config
        monitor = SandboxMonitor(
            sandbox_id,
            api,
            self._attention,
            self._on_snapshot,
            min_interval=config.reread_min_interval_s,
        )
        monitor.follower = EventFollower(
            api,
            monitor._on_event,
            monitor.reread,
            backoff=Backoff(config.reconnect_min_s, config.reconnect_max_s),
            poll_interval=config.poll_interval_s,
            resync_interval=config.resync_interval_s,
            name=f"opencode of {sandbox_id}",
        )
        self.monitors[sandbox_id] = monitor
        monitor.start()
        return monitor

    def kick(self, sandbox_id: str, files: bool = False) -> None:
        monitor = self.monitors.get(sandbox_id)
        if monitor is not None:
            monitor.kick(files)

    async def unwatch(self, sandbox_id: str) -> None:
        monitor = self.monitors.pop(sandbox_id, None)
        if monitor is not None:
            await monitor.stop()
        await self._attention.forget_sandbox(sandbox_id)
        await self._access.forget(sandbox_id)

    async def close(self) -> None:
        for sandbox_id in list(self.monitors):
            monitor = self.monitors.pop(sandbox_id)
            await monitor.stop()
