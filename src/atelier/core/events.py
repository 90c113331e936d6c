"""The in-process event bus.

Services publish `Event`s (state changes, spawn steps with timings, attention items);
subscribers (the SSE endpoint, webhooks, the dashboard) receive them through bounded
queues. A slow subscriber loses its oldest events rather than blocking publishers, and is
told so with a `stream.lagged` event. Visibility is decided per event by `audience`: the
user ids allowed to see it (None = every authenticated user).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Something that happened, as published on the bus and the SSE stream."""

    type: str
    data: dict[str, Any]
    audience: frozenset[str] | None = None
    id: int = 0
    at: float = field(default_factory=time.time)

    def visible_to(self, user_id: str, is_admin: bool) -> bool:
        """Whether a user may receive this event."""
        return self.audience is None or is_admin or user_id in self.audience

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form (audience is not exposed)."""
        return {"id": self.id, "type": self.type, "at": self.at, "data": self.data}


class Subscription:
    """One subscriber's bounded queue."""

    def __init__(self, bus: EventBus, size: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event] = asyncio.Queue(size)
        self.lagged = 0

    def offer(self, event: Event) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.lagged += 1
        self._queue.put_nowait(event)

    async def get(self) -> Event:
        """The next event (a `stream.lagged` notice first if events were dropped)."""
        if self.lagged:
            dropped, self.lagged = self.lagged, 0
            return Event("stream.lagged", {"dropped": dropped})
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.get()

    def close(self) -> None:
        """Stop receiving events."""
        self._bus._subscribers.discard(self)


class EventBus:
    """Fan-out of events to every subscriber."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[Subscription] = set()
        self._ids = itertools.count(1)
        self._queue_size = queue_size

    def publish(
        self, type: str, data: dict[str, Any], audience: Iterable[str] | None = None
    ) -> Event:
        """Publish an event to every current subscriber; never blocks."""
        event = Event(
            type,
            data,
            frozenset(audience) if audience is not None else None,
            id=next(self._ids),
        )
        for subscription in list(self._subscribers):
            subscription.offer(event)
        return event

    def subscribe(self) -> Subscription:
        """A new subscription; call `close()` when done."""
        subscription = Subscription(self, self._queue_size)
        self._subscribers.add(subscription)
        return subscription
