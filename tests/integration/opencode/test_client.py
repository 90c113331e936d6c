"""The OpenCode client and event follower against the real OpenCode (a host process).

OpenCode talks to the scripted model server on loopback, which makes it write a file,
keep todos, ask permission to run a shell command and ask a question. The follower must
see the events, reconnect after OpenCode is killed and restarted, and keep re-reading
(polling) while the stream is down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from atelier.runtime.opencode import (
    Backoff,
    EventFollower,
    ModelRef,
    OpencodeClient,
    OpencodeEvent,
    OpencodeGone,
    Prompt,
)
from tests.fakes.llm_server import (
    Gate,
    ScriptedModel,
    Turn,
    bash,
    provider_config,
    question,
    serve_model,
    todos,
    write_file,
)
from tests.opencodekit import (
    HostOpencode,
    host_opencode,
    start_opencode,
    stop_opencode,
    wait_ready,
)

pytestmark = pytest.mark.slow
MODEL = ModelRef("scripted", "scripted")


@pytest.fixture
def model() -> Iterator[tuple[ScriptedModel, str]]:
    scripted = ScriptedModel()
    with serve_model(scripted) as (host, port):
        yield scripted, f"http://{host}:{port}/v1"


@pytest.fixture
async def server(tmp_path: Path, model: tuple[ScriptedModel, str]) -> AsyncIterator[HostOpencode]:
    config = provider_config(model[1]) | {"permission": {"bash": "ask"}}
    async with host_opencode(tmp_path, config) as running:
        yield running


async def _until(check: object, what: str, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]  # an async predicate
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_session_asks_permission_and_a_question_and_finishes(
    server: HostOpencode, model: tuple[ScriptedModel, str]
) -> None:
    scripted, _url = model
    scripted.scripts["flow"] = [
        Turn(text="planning", tools=(todos(("write", "in_progress"), ("check", "pending")),)),
        Turn(tools=(write_file("hello.txt", "hello\n"),)),
        Turn(tools=(bash("echo ran > ran.txt", "leave a marker"),)),
        Turn(tools=(question("Which colour?", "Colour", "red", "blue"),)),
        Turn(tools=(todos(("write", "completed"), ("check", "completed")),)),
    ]
    client = server.client()
    events: list[OpencodeEvent] = []
    follower = EventFollower(client, _collect(events), _nothing, poll_interval=1.0)
    following = asyncio.create_task(follower.run())
    try:
        directory = str(server.workdir)
        session = await client.create_session("flow", directory)
        await client.prompt(session.id, Prompt("[script:flow] go", MODEL), directory)

        async def asked() -> bool:
            return bool((await client.pending(directory)).permissions)

        await _until(asked, "the permission request")
        permission = (await client.pending(directory)).permissions[0]
        assert permission.permission == "bash"
        assert permission.subject() == "echo ran > ran.txt"
        await client.answer_permission(permission.id, "once", directory)
        with pytest.raises(OpencodeGone):
            await client.answer_permission(permission.id, "once", directory)

        async def questioned() -> bool:
            return bool((await client.pending(directory)).questions)

        await _until(questioned, "the question")
        request = (await client.pending(directory)).questions[0]
        assert [o.label for o in request.questions[0].options] == ["red", "blue"]
        await client.answer_question(request.id, [["red"]], directory)

        async def finished() -> bool:
            messages = await client.messages(session.id, directory, 2)
            idle = session.id not in await client.statuses(directory)
            return idle and bool(messages) and messages[-1].finish == "stop"

        await _until(finished, "the session to finish")
        done = await client.todos(session.id, directory)
        assert [t.status for t in done] == ["completed", "completed"]
        assert (server.workdir / "hello.txt").read_text() == "hello\n"
        assert (server.workdir / "ran.txt").exists()
        kinds = {e.type for e in events}
        assert {"permission.asked", "question.asked", "todo.updated", "session.idle"} <= kinds
        assert all(e.directory == directory for e in events if e.type == "permission.asked")
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await client.aclose()


async def test_the_follower_reconnects_and_polls_while_down(
    tmp_path: Path, model: tuple[ScriptedModel, str]
) -> None:
    scripted, url = model
    gate = Gate()
    scripted.scripts["slow"] = [Turn(text="thinking", gate=gate)]
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".config/opencode").mkdir(parents=True)
    (home / ".config/opencode/opencode.json").write_text(
        __import__("json").dumps(provider_config(url))
    )
    server = await start_opencode(home, work, "pw")
    port = int(server.url.rsplit(":", 1)[1])
    client = OpencodeClient(server.url, password="pw", timeout=60, probe_timeout=2)
    rereads = 0

    async def reread() -> None:
        nonlocal rereads
        await client.sessions()
        rereads += 1

    events: list[OpencodeEvent] = []
    follower = EventFollower(
        client, _collect(events), reread, backoff=Backoff(0.2, 2.0), poll_interval=0.5
    )
    following = asyncio.create_task(follower.run())
    try:
        await wait_ready(server)

        async def connected() -> bool:
            return follower.state.connected

        await _until(connected, "the first connection")
        await stop_opencode(server)

        async def down() -> bool:
            return not follower.state.connected and follower.state.polls >= 2

        await _until(down, "polling while the stream is down")
        server = await start_opencode(home, work, "pw", port=port)
        await wait_ready(server)

        async def back() -> bool:
            return follower.state.connected and follower.state.connects >= 2

        await _until(back, "the reconnection")
        before = len(events)
        session = await client.create_session("after restart", str(work))
        await client.prompt(session.id, Prompt("[script:slow] wait", MODEL), str(work))

        async def seen() -> bool:
            # Not necessarily `session.created`: OpenCode may publish the first events of a
            # directory's new instance before /global/event forwards that instance.
            return any(e.session_id == session.id for e in events[before:])

        try:
            await _until(seen, "events after the reconnection")
        except AssertionError:
            raise AssertionError(f"{follower.state} {[e.type for e in events]}") from None
        assert rereads >= 2  # on each connection (the polls while down could not read)
    finally:
        gate.open()
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await client.aclose()
        await stop_opencode(server)


def _collect(into: list[OpencodeEvent]):  # type: ignore[no-untyped-def]  # a small closure
    async def handle(event: OpencodeEvent) -> None:
        into.append(event)

    return handle


async def _nothing() -> None:
    return None
