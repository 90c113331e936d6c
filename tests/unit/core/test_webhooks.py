"""The webhook: Slack/ntfy-compatible body, retries, no URL no traffic."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from atelier.core.webhooks import Notice, WebhookSender, webhook_body
from atelier.runtime.opencode import OpencodeConfig

NOTICE = Notice(
    event="attention.created",
    title="Permission in sandbox abc",
    message="bash: rm -rf build",
    data={"id": "abc:per_1"},
    tags=("warning",),
    priority=4,
    click="https://atelier.example/attention",
)


def test_body_serves_slack_ntfy_and_others() -> None:
    body = webhook_body(NOTICE, topic="atelier")
    assert body["text"] == "*Permission in sandbox abc*\nbash: rm -rf build"  # Slack
    assert (body["topic"], body["title"], body["message"]) == (
        "atelier",
        "Permission in sandbox abc",
        "bash: rm -rf build",
    )  # ntfy
    assert body["tags"] == ["warning"] and body["priority"] == 4
    assert body["click"] == "https://atelier.example/attention"
    assert body["event"] == "attention.created" and body["data"] == {"id": "abc:per_1"}
    assert "topic" not in webhook_body(NOTICE)


async def test_sender_retries_then_delivers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503 if len(seen) == 1 else 200)

    config = OpencodeConfig(webhook_url="https://hooks.example/x", webhook_retries=2)
    sender = WebhookSender(config, transport=httpx.MockTransport(handler))
    assert sender.wants("attention") and sender.wants("task")
    await sender.start()
    try:
        sender.send(NOTICE)
        for _ in range(200):
            if sender.stats.sent:
                break
            await asyncio.sleep(0.05)
    finally:
        await sender.stop()
    assert sender.stats.sent == 1 and len(seen) == 2
    assert seen[-1].url == "https://hooks.example/x"


async def test_a_refused_body_is_not_retried_and_no_url_sends_nothing() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400)

    config = OpencodeConfig(webhook_url="http://127.0.0.1:9/x", webhook_events=["task"])
    sender = WebhookSender(config, transport=httpx.MockTransport(handler))
    assert not sender.wants("attention")
    await sender.start()
    try:
        sender.send(NOTICE)
        for _ in range(200):
            if sender.stats.failed:
                break
            await asyncio.sleep(0.05)
    finally:
        await sender.stop()
    assert calls == [1] and sender.stats.last_error == "HTTP 400"
    quiet = WebhookSender(OpencodeConfig())
    quiet.send(NOTICE)
    assert not quiet.enabled and not quiet.wants("task")


def test_webhook_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        OpencodeConfig(webhook_url="ftp://x")
