"""The OpenCode client against a mock transport: paths, bodies, errors, retries, SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from atelier.runtime.opencode import (
    ModelRef,
    OpencodeClient,
    OpencodeError,
    OpencodeGone,
    OpencodeRejected,
    OpencodeUnavailable,
    Prompt,
)
from atelier.runtime.opencode.models import OpencodeEvent, PermissionRequest
from atelier.runtime.opencode.sse import sse_data


def client(handler: object) -> OpencodeClient:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]  # a plain function
    return OpencodeClient("http://oc", password="pw", transport=transport, timeout=5)


async def test_requests_carry_auth_directory_and_bodies() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/session" and request.method == "POST":
            return httpx.Response(200, json={"id": "ses_1", "directory": "/w", "title": "t"})
        return httpx.Response(204)

    api = client(handler)
    session = await api.create_session("t", "/w")
    prompt = Prompt("do it", ModelRef("scripted", "m"), agent="build", variant="high")
    await api.prompt(session.id, prompt, "/w")
    await api.answer_permission("per_1", "always", "/w")
    await api.answer_question("que_1", [["red"], ["a", "b"]], "/w")
    await api.answer_question("que_2", None, "/w")
    await api.aclose()
    assert seen[0].headers["authorization"].startswith("Basic ")
    assert [(r.method, r.url.path, r.url.params.get("directory")) for r in seen] == [
        ("POST", "/session", "/w"),
        ("POST", "/session/ses_1/prompt_async", "/w"),
        ("POST", "/permission/per_1/reply", "/w"),
        ("POST", "/question/que_1/reply", "/w"),
        ("POST", "/question/que_2/reject", "/w"),
    ]
    assert json.loads(seen[1].content) == {
        "parts": [{"type": "text", "text": "do it"}],
        "model": {"providerID": "scripted", "modelID": "m"},
        "agent": "build",
        "variant": "high",
    }
    assert json.loads(seen[2].content) == {"reply": "always"}
    assert json.loads(seen[3].content) == {"answers": [["red"], ["a", "b"]]}


async def test_errors_are_translated() -> None:
    statuses = iter([404, 401, 400, 500])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(statuses), text="nope")

    api = client(handler)
    with pytest.raises(OpencodeGone):
        await api.answer_permission("x", "once", "")
    with pytest.raises(OpencodeRejected, match="password"):
        await api.sessions()
    with pytest.raises(OpencodeRejected, match="refused"):
        await api.sessions()
    with pytest.raises(OpencodeError, match="500"):
        await api.sessions()


async def test_reads_are_retried_once_after_a_timeout_writes_are_not() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) in (1, 3, 4):  # the first request after start may hang
            raise httpx.ReadTimeout("hang", request=request)
        return httpx.Response(200, json={"healthy": True, "version": "1.18.33"})

    api = client(handler)
    assert (await api.health()).version == "1.18.33"
    with pytest.raises(OpencodeUnavailable, match="no answer"):
        await api.create_session("t", "/w")
    assert calls == ["GET", "GET", "POST"]


async def test_pending_lists_permissions_and_questions_of_a_directory() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/permission":
            return httpx.Response(
                200,
                json=[
                    {
                        "id": "per_1",
                        "sessionID": "ses_1",
                        "permission": "bash",
                        "patterns": ["ls -a"],
                        "metadata": {"command": "ls -a"},
                        "always": ["ls *"],
                    }
                ],
            )
        return httpx.Response(
            200,
            json=[
                {
                    "id": "que_1",
                    "sessionID": "ses_1",
                    "questions": [
                        {"question": "Colour?", "header": "C", "options": [{"label": "red"}]}
                    ],
                }
            ],
        )

    pending = await client(handler).pending("/w")
    permission = pending.permissions[0]
    assert (permission.subject(), permission.always, permission.directory) == (
        "ls -a",
        ("ls *",),
        "/w",
    )
    assert pending.questions[0].questions[0].options[0].label == "red"


async def test_events_come_from_the_global_stream() -> None:
    body = (
        'data: {"payload": {"type": "server.connected", "properties": {}}}\n\n'
        ": comment\n"
        'data: {"directory": "/w", "payload": {"type": "permission.asked",\n'
        'data:  "properties": {"id": "per_1", "sessionID": "s", "permission": "edit",'
        ' "metadata": {"filePath": "/w/a.py"}}}}\n\n'
        "data: not json\n\n"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/global/event"
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    events = [e async for e in client(handler).events()]
    assert [e.type for e in events] == ["server.connected", "permission.asked"]
    asked = events[1]
    assert asked.directory == "/w" and asked.session_id == "s"
    assert PermissionRequest.parse(asked.properties).subject() == "/w/a.py"


async def test_sse_decoder_joins_multiline_data() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in ["data: a", "data: b", "", "event: x", "data:c", ""]:
            yield line

    assert [d async for d in sse_data(lines())] == ["a\nb", "c"]
    assert OpencodeEvent.parse([1]) is None
    parsed = OpencodeEvent.parse({"type": "x", "properties": {"info": {"id": "s9"}}})
    assert parsed is not None and parsed.session_id == "s9"
