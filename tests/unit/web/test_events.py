"""The dashboard's event stream: topics, visibility, and the render helpers it feeds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from atelier.core.events import Event
from atelier.web.render import ago, duration, size, tone
from atelier.web.views.events import topic_of
from tests.unit.web.conftest import Web, sign_in
from tests.unit.web.loopback import serving


@pytest.mark.parametrize(
    ("kind", "topic"),
    [
        ("sandbox.status", "sandboxes"),
        ("sandbox.step", "sandboxes"),
        ("sandbox.dev", "dev"),
        ("task.updated", "tasks"),
        ("attention.created", "attention"),
        ("prebuild.updated", "workspaces"),
        ("stream.lagged", "refresh"),
        ("audit.login", None),
    ],
)
def test_topics(kind: str, topic: str | None) -> None:
    assert topic_of(Event(kind, {})) == topic


async def _lines(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, object]]]:
    event = ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            yield event, json.loads(line.split(":", 1)[1])


async def test_stream_carries_only_visible_events(web: Web) -> None:
    async with serving(web.app) as server:
        base = server.url
        async with httpx.AsyncClient(base_url=base) as client:
            await sign_in(client, "bob")
            bob = await web.manager.auth.get_user("bob")
            alice = await web.manager.auth.get_user("alice")
            async with client.stream("GET", "/ui/events") as response:
                assert response.status_code == 200
                lines = _lines(response)
                assert (await anext(lines))[0] == "hello"
                web.manager.bus.publish("sandbox.status", {"id": "alices"}, {alice.id})
                web.manager.bus.publish("audit.login", {"id": "nobody"})
                web.manager.bus.publish("sandbox.status", {"id": "bobs"}, {bob.id})
                web.manager.bus.publish("task.created", {"id": "t1"})
                first = await asyncio.wait_for(anext(lines), 10)
                second = await asyncio.wait_for(anext(lines), 10)
        assert first[0] == "sandboxes" and first[1]["data"] == {"id": "bobs"}
        assert second[0] == "tasks"


async def test_stream_needs_a_session(web: Web) -> None:
    async with web.client() as client:
        answer = await client.get("/ui/events")
    assert answer.status_code == 303


def test_render_helpers() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=10), now) == "just now"
    assert ago(now - timedelta(minutes=5), now) == "5 min ago"
    assert ago(now - timedelta(hours=3), now) == "3 h ago"
    assert ago(now + timedelta(days=2), now) == "in 2 d"
    assert ago(None) == "never"
    assert size(512) == "512 B"
    assert size(3 * 1024**3) == "3.0 GiB"
    assert duration(59) == "59 s"
    assert duration(3 * 3600 + 120) == "3 h 2 min"
    assert tone("running") == "ok" and tone("error") == "bad" and tone("whatever") == "idle"
