"""The service worker in Chromium: a push event becomes a notification.

The push is delivered by Chromium itself (DevTools `ServiceWorker.deliverPushMessage`), so
the worker receives a trusted `push` event exactly as from a push service; no traffic leaves
the machine. (Subscribing needs the browser vendor's push service, which tests cannot reach;
storing subscriptions and encrypted delivery are covered in tests/unit/web/test_push.py.)
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.web.harness import Stack, signed_in

pytestmark = [pytest.mark.browser]

NOTIFICATIONS = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications();
  return shown.map(n => ({title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url}));
}"""


async def test_service_worker_shows_a_notification(browser: Any, stack: Stack, shots: Path) -> None:
    context, page = await signed_in(browser, stack)
    try:
        await context.grant_permissions(["notifications"], origin=stack.url)
        cdp = await context.new_cdp_session(page)
        registrations: list[dict[str, Any]] = []
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda event: registrations.extend(event["registrations"]),
        )
        await cdp.send("ServiceWorker.enable")
        await page.goto("/settings")
        await page.locator("[data-push-state]", has_text="Notifications are").wait_for()
        await page.evaluate("async () => { await navigator.serviceWorker.ready; }")
        scope = f"{stack.url}/"
        for _ in range(200):
            found = [r for r in registrations if r["scopeURL"] == scope and not r["isDeleted"]]
            if found:
                break
            await asyncio.sleep(0.05)
        assert found, registrations
        message = {
            "title": "Permission needed: bash",
            "body": "rm -rf build · sandbox abc",
            "url": "/#attention",
            "tag": "attention-a1",
        }
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": stack.url,
                "registrationId": found[0]["registrationId"],
                "data": json.dumps(message),
            },
        )
        shown: list[dict[str, Any]] = []
        for _ in range(200):
            shown = await page.evaluate(NOTIFICATIONS)
            if shown:
                break
            await asyncio.sleep(0.05)
        assert shown == [
            {
                "title": "Permission needed: bash",
                "body": "rm -rf build · sandbox abc",
                "tag": "attention-a1",
                "url": "/#attention",
            }
        ]
        await page.screenshot(path=shots / "settings-notifications-desktop.png")
    finally:
        await context.close()
