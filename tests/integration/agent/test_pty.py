"""PTY sessions: input, output, resize, detach and re-attach with scrollback, several watchers."""

from __future__ import annotations

import asyncio

from atelier.runtime.agent import AgentClient, PtyHandle
from tests.integration.agent.conftest import gone


async def read_until(pty: PtyHandle, marker: bytes, limit: float = 20.0) -> bytes:
    seen = b""
    async with asyncio.timeout(limit):
        while marker not in seen:
            chunk = await pty.read()
            assert chunk, f"session ended before {marker!r}; got {seen!r}"
            seen += chunk
    return seen


async def test_interactive_shell_with_resize(client: AgentClient) -> None:
    pty = await client.pty_open(["/bin/sh"], cols=80, rows=24, env={"PS1": "$ "})
    await pty.write(b"echo hel''lo\n")
    await read_until(pty, b"hello")
    pty.resize(100, 30)
    await pty.write(b"stty size\n")
    await read_until(pty, b"30 100")
    await pty.write(b"exit 5\n")
    result = await pty.wait()
    assert result["exit_code"] == 5


async def test_session_survives_detach_and_replays_scrollback(client: AgentClient) -> None:
    first = await client.pty_open(["/bin/sh"], env={"PS1": "$ "})
    await first.write(b"echo marker-$((40+2))\n")
    await read_until(first, b"marker-42")
    first.detach()
    sessions = {s.session: s for s in await client.pty_list()}
    assert sessions[first.session].running
    again = await client.pty_attach(first.session)
    assert b"marker-42" in await read_until(again, b"marker-42")
    watcher = await client.pty_attach(first.session, replay=False)
    await again.write(b"echo both-$((1+1))\n")
    await read_until(again, b"both-2")
    await read_until(watcher, b"both-2")
    await client.pty_close(first.session)
    assert (await watcher.wait())["signal"] is not None
    assert await gone(first.pid)
