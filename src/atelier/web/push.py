"""Web Push notifications: subscriptions per user and delivery of attention items.

Browsers subscribe from Settings (the service worker `/sw.js` shows the notifications).
`run()` listens on the event bus and sends one notification per `attention.created` event
to the subscriptions of the event's audience (every subscriber when the audience is
None). The event shape it expects from the tasks service:

    attention.created  data = {"id": str, "kind": "permission" | "question",
                               "sandboxId": str, "title": str, "detail"?: str,
                               "taskId"?: str, "taskTitle"?: str, ...}

(`atelier.core.attention.AttentionItem.to_json()`; snake_case keys are accepted too.)

A push service answering 404 or 410 means the subscription is gone: it is deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from atelier.core.auth import Principal
from atelier.core.events import Event
from atelier.core.manager import Manager
from atelier.db.models import PushSubscription
from atelier.db.repos import push as repo
from atelier.db.types import utcnow
from atelier.errors import LimitExceeded, NotFound
from atelier.web.config import WebConfig
from atelier.web.webpush import VapidKeys, check_endpoint, check_keys, push_request

log = logging.getLogger(__name__)

MAX_PER_USER = 20
PARALLEL_SENDS = 8


@dataclass(frozen=True)
class SubscriptionView:
    """A subscribed browser, as Settings lists it."""

    id: str
    service: str  # the push service host
    user_agent: str | None
    created_at: datetime
    last_sent_at: datetime | None
    failures: int

    @classmethod
    def of(cls, row: PushSubscription) -> SubscriptionView:
        return cls(
            row.id,
            urlsplit(row.endpoint).hostname or "?",
            row.user_agent,
            row.created_at,
            row.last_sent_at,
            row.failures,
        )


def _hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def _field(data: dict[str, Any], camel: str, snake: str) -> Any:
    return data.get(camel) if data.get(camel) is not None else data.get(snake)


def attention_message(event: Event) -> dict[str, Any] | None:
    """The notification for a bus event (None when the event is not notified)."""
    if event.type != "attention.created":
        return None
    data = event.data
    kind = "Question" if data.get("kind") == "question" else "Permission needed"
    title = f"{kind}: {data.get('title') or 'an agent is waiting'}"
    task_id = _field(data, "taskId", "task_id")
    parts = [str(v) for v in (_field(data, "taskTitle", "task_title"), data.get("detail")) if v]
    parts.append(f"sandbox {_field(data, 'sandboxId', 'sandbox_id') or '?'}")
    return {
        "title": title[:120],
        "body": " · ".join(parts)[:400],
        "url": f"/tasks/{task_id}" if task_id else "/#attention",
        "tag": f"attention-{data.get('id', '')}"[:64],
    }


class PushService:
    """Stores subscriptions and delivers notifications to them."""

    def __init__(
        self,
        manager: Manager,
        config: WebConfig,
        vapid: VapidKeys,
        *,
        client: Callable[[], httpx.AsyncClient] | None = None,
    ) -> None:
        self._manager = manager
        self._config = config
        self.vapid = vapid
        self._client_factory = client or (
            lambda: httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        )
        self.sent = 0  # deliveries accepted by push services (tests, status)

    async def subscribe(
        self, principal: Principal, endpoint: str, p256dh: str, auth: str, user_agent: str | None
    ) -> SubscriptionView:
        """Store (or refresh) the caller's subscription for one browser."""
        check_endpoint(endpoint, self._config.push_hosts)
        check_keys(p256dh, auth)
        async with self._manager.db.session() as session:
            row = await repo.by_endpoint_hash(session, _hash(endpoint))
            if row is None:
                if len(await repo.of_user(session, principal.user_id)) >= MAX_PER_USER:
                    raise LimitExceeded(
                        f"you already have {MAX_PER_USER} subscribed browsers",
                        hint="remove old ones in Settings",
                    )
                row = PushSubscription(
                    id=secrets.token_hex(8), endpoint=endpoint, endpoint_hash=_hash(endpoint)
                )
                session.add(row)
            row.user_id = principal.user_id
            row.p256dh, row.auth = p256dh, auth
            row.user_agent = (user_agent or "")[:255] or None
            row.failures = 0
            if row.created_at is None:
                row.created_at = utcnow()
        return SubscriptionView.of(row)

    async def subscriptions(self, principal: Principal) -> list[SubscriptionView]:
        """The caller's subscribed browsers."""
        async with self._manager.db.session() as session:
            return [SubscriptionView.of(r) for r in await repo.of_user(session, principal.user_id)]

    async def unsubscribe(self, principal: Principal, ref: str) -> None:
        """Remove one of the caller's subscriptions, by id or endpoint."""
        async with self._manager.db.session() as session:
            row = await repo.by_endpoint_hash(session, _hash(ref))
            target = row.id if row is not None else ref
            if await repo.remove(session, target, principal.user_id) == 0:
                raise NotFound(f"no subscription {ref[:40]!r}", field="subscription")

    async def notify(self, user_ids: Iterable[str] | None, message: dict[str, Any]) -> int:
        """Send `message` to every subscription of these users; returns deliveries."""
        async with self._manager.db.session() as session:
            rows = await repo.of_users(session, user_ids)
            targets = [(r.id, r.endpoint, r.p256dh, r.auth) for r in rows]
        if not targets:
            return 0
        gate = asyncio.Semaphore(PARALLEL_SENDS)
        async with self._client_factory() as client:

            async def one(target: tuple[str, str, str, str]) -> bool:
                async with gate:
                    return await self._deliver(client, *target, message)

            results = await asyncio.gather(*(one(t) for t in targets))
        return sum(results)

    async def _deliver(
        self,
        client: httpx.AsyncClient,
        sub_id: str,
        endpoint: str,
        p256dh: str,
        auth: str,
        message: dict[str, Any],
    ) -> bool:
        request = push_request(
            self.vapid,
            self._config.push_subject,
            endpoint,
            p256dh,
            auth,
            message,
            ttl_s=self._config.push_ttl_s,
            topic=hashlib.sha256(str(message.get("tag", "")).encode()).hexdigest()[:32],
        )
        status: int | None = None
        try:
            response = await client.post(request.url, content=request.body, headers=request.headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            log.warning("push to %s failed: %s", urlsplit(endpoint).hostname, exc)
        async with self._manager.db.session() as session:
            if status in (404, 410):
                await repo.remove(session, sub_id)
                return False
            row = await session.get(PushSubscription, sub_id)
            if row is not None:
                ok = status is not None and 200 <= status < 300
                row.failures = 0 if ok else row.failures + 1
                if ok:
                    row.last_sent_at = utcnow()
        if status is not None and 200 <= status < 300:
            self.sent += 1
            return True
        if status is not None:
            log.warning("push service %s answered %s", urlsplit(endpoint).hostname, status)
        return False

    async def send_test(self, principal: Principal) -> int:
        """A test notification to the caller's browsers."""
        message = {
            "title": "Atelier notifications work",
            "body": "You will be told here when an agent needs you.",
            "url": "/settings",
            "tag": "atelier-test",
        }
        return await self.notify([principal.user_id], message)

    async def run(self) -> None:
        """Deliver attention items from the event bus until cancelled."""
        subscription = self._manager.bus.subscribe()
        try:
            async for event in subscription:
                message = attention_message(event)
                if message is None:
                    continue
                try:
                    await self.notify(event.audience, message)
                except Exception:
                    log.exception("push delivery of event %s failed", event.id)
        finally:
            subscription.close()
