"""Following one OpenCode server for as long as it lives: events, reconnects and polling.

`EventFollower.run()` waits until the server is ready, opens the event stream, asks for a
full re-read (`on_resync`) once the stream is up (so nothing that happened while it was
down is missed), hands every event to `on_event`, and re-reads in full every
`resync_interval` as self-healing. When the stream fails it reconnects with exponential
backoff (with jitter), and while it is down it keeps re-reading every `poll_interval`, so
progress and attention still move when only the REST API works. It runs until cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from atelier.errors import AtelierError
from atelier.runtime.opencode.base import OpencodeApi
from atelier.runtime.opencode.models import OpencodeEvent

log = logging.getLogger(__name__)

EventHandler = Callable[[OpencodeEvent], Awaitable[None]]
ResyncHandler = Callable[[], Awaitable[None]]


@dataclass
class Backoff:
    """Exponential delays between `low` and `high`, with ±20 % jitter; `reset()` after success."""

    low: float = 0.5
    high: float = 30.0
    attempts: int = 0

    def next(self) -> float:
        delay = min(self.high, self.low * (2**self.attempts))
        self.attempts += 1
        return float(delay * random.uniform(0.8, 1.2))

    def reset(self) -> None:
        self.attempts = 0


@dataclass
class FollowerState:
    """What the follower knows about its stream, for health and tests."""

    connected: bool = False
    connects: int = 0
    failures: int = 0
    polls: int = 0
    last_event_at: float | None = None
    last_error: str | None = None


class EventFollower:
    """Keeps one server's events flowing into handlers, whatever happens to the stream."""

    def __init__(
        self,
        api: OpencodeApi,
        on_event: EventHandler,
        on_resync: ResyncHandler,
        *,
        backoff: Backoff | None = None,
        poll_interval: float = 5.0,
        resync_interval: float = 60.0,
        name: str = "opencode",
    ) -> None:
        self.api = api
        self._on_event = on_event
        self._on_resync = on_resync
        self.backoff = backoff or Backoff()
        self.poll_interval = poll_interval
        self.resync_interval = resync_interval
        self.name = name
        self.state = FollowerState()
        self._next_poll = 0.0

    async def run(self) -> None:
        """Follow until cancelled."""
        while True:
            try:
                await self._follow_once()
                self.state.last_error = "the event stream ended"
            except asyncio.CancelledError:
                raise
            except AtelierError as exc:
                self.state.last_error = exc.message
            except Exception as exc:  # a handler bug must not end the follower
                log.exception("%s: follower error", self.name)
                self.state.last_error = f"{type(exc).__name__}: {exc}"
            self.state.connected = False
            self.state.failures += 1
            await self._poll_while_waiting(self.backoff.next())

    async def _follow_once(self) -> None:
        await self.api.health()
        stream = self.api.events()
        resync_at = 0.0
        try:
            async for event in stream:
                now = time.monotonic()
                self.state.last_event_at = now
                if not self.state.connected:
                    self.state.connected = True
                    self.state.connects += 1
                    self.backoff.reset()
                    log.debug("%s: event stream up", self.name)
                    await self._resync()
                    resync_at = now + self.resync_interval
                    if event.type == "server.connected":
                        continue
                await self._on_event(event)
                if now >= resync_at:
                    await self._resync()
                    resync_at = now + self.resync_interval
        finally:
            await _close(stream)

    async def _resync(self) -> None:
        try:
            await self._on_resync()
        except AtelierError as exc:
            log.debug("%s: re-read failed: %s", self.name, exc.message)
        except Exception:
            log.exception("%s: re-read failed", self.name)

    async def _poll_while_waiting(self, delay: float) -> None:
        """Wait `delay` before reconnecting; meanwhile re-read every poll_interval."""
        deadline = time.monotonic() + delay
        while True:
            if time.monotonic() >= self._next_poll:
                self.state.polls += 1
                await self._resync()
                self._next_poll = time.monotonic() + self.poll_interval
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, max(0.0, self._next_poll - time.monotonic())))


async def _close(stream: object) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            log.debug("closing an event stream failed", exc_info=True)
