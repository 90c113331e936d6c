"""`file.watch`: the agent reports file changes itself (current state first), until cancelled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from atelier.runtime.agent import AgentClient
from atelier.runtime.agent.errors import AgentBadRequest


async def test_reports_creation_change_and_removal(client: AgentClient, tmp_path: Path) -> None:
    target = tmp_path / "auth.json"
    watch = client.watch_files([str(target)], interval=0.1)
    first = await anext(watch)
    assert [(c.path, c.exists) for c in first] == [(str(target), False)]
    target.write_text("{}")
    created = await asyncio.wait_for(anext(watch), 10)
    assert created[0].exists and created[0].size == 2
    target.write_text('{"a": 1}')
    changed = await asyncio.wait_for(anext(watch), 10)
    assert changed[0].size == 8
    target.unlink()
    removed = await asyncio.wait_for(anext(watch), 10)
    assert not removed[0].exists
    await watch.aclose()
    # The connection stays usable after the watch is cancelled.
    assert (await client.health()).status


async def test_bad_paths_are_refused(client: AgentClient) -> None:
    with pytest.raises(AgentBadRequest, match="absolute"):
        await anext(client.watch_files(["relative/path"]))
