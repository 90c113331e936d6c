"""The optional webhook: a JSON POST on new attention items and task status changes.

One body serves several receivers: Slack incoming webhooks read `text`; ntfy's JSON
publishing (POST to the server's root URL) reads `topic`, `title`, `message`, `tags`,
`priority` and `click`; anything else reads `event` and `data`. Deliveries are queued and
sent in the background with retries, so a slow receiver never delays a task; a delivery
that keeps failing is logged and dropped. The URL is a secret: it is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from atelier.runtime.opencode import OpencodeConfig

log = logging.getLogger(__name__)
QUEUE_SIZE = 500


@dataclass(frozen=True)
class Notice:
    """Something worth telling a person about."""

    event: str  # "attention.created", "task.status"
    title: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    priority: int = 3  # ntfy's 1 (min) .. 5 (urgent)
    click: str | None = None  # a URL to open


def webhook_body(notice: Notice, topic: str | None = None) -> dict[str, Any]:
    """The JSON body: Slack- and ntfy-compatible, with the structured event for others."""
    body: dict[str, Any] = {
        "text": f"*{notice.title}*\n{notice.message}",
        "title": notice.title,
        "message": notice.message,
        "tags": list(notice.tags),
        "priority": notice.priority,
        "event": notice.event,
        "data": notice.data,
    }
    if topic:
        body["topic"] = topic
    if notice.click:
        body["click"] = notice.click
    return body


@dataclass
class WebhookStats:
    """Delivery counters, for health and tests."""

    sent: int = 0
    failed: int = 0
    dropped: int = 0
    last_error: str | None = None


class WebhookSender:
    """Queues notices and POSTs them to the configured URL (no URL: does nothing)."""

    def __init__(
        self, config: OpencodeConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._url = config.webhook_url.get_secret_value() if config.webhook_url else None
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(QUEUE_SIZE)
        self._transport = transport
        self._worker: asyncio.Task[None] | None = None
        self.stats = WebhookStats()

    @property
    def enabled(self) -> bool:
        return self._url is not None

    def wants(self, topic: str) -> bool:
        """Whether notices of this topic ("attention", "task") are delivered."""
        return self.enabled and topic in self._config.webhook_events

    def send(self, notice: Notice) -> None:
        """Queue a notice; never blocks (a full queue drops it and counts that)."""
        if not self.enabled:
            return
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.stats.dropped += 1

    async def start(self) -> None:
        if self.enabled and self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def _run(self) -> None:
        assert self._url is not None
        timeout = httpx.Timeout(self._config.webhook_timeout_s, connect=5.0)
        async with httpx.AsyncClient(timeout=timeout, transport=self._transport) as client:
            while True:
                notice = await self._queue.get()
                await self._deliver(client, self._url, notice)

    async def _deliver(self, client: httpx.AsyncClient, url: str, notice: Notice) -> None:
        body = webhook_body(notice, self._config.webhook_topic)
        delay = 1.0
        for attempt in range(self._config.webhook_retries + 1):
            try:
                response = await client.post(url, json=body)
                if response.status_code < 400:
                    self.stats.sent += 1
                    return
                error = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    break  # the receiver refuses this body; retrying will not help
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            if attempt < self._config.webhook_retries:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.stats.failed += 1
        self.stats.last_error = error
        log.warning("webhook delivery of %s failed: %s", notice.event, error)
