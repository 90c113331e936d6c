"""Fixtures: the real guest agent on the host, over a Unix socket and a virtio-serial imitation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from atelier.runtime.agent import AgentClient, AgentEndpoint
from atelier.runtime.host import proc
from tests.fakes.guest_agent import AgentProcess, SerialRelay, serial_agent, unix_agent

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[AgentProcess]:
    async with unix_agent(tmp_path, TOKEN) as running:
        yield running


@pytest.fixture
async def client(agent: AgentProcess) -> AsyncIterator[AgentClient]:
    async with await ready_client(agent.endpoint) as connected:
        yield connected


@pytest.fixture
async def serial(tmp_path: Path) -> AsyncIterator[tuple[AgentProcess, SerialRelay]]:
    async with serial_agent(tmp_path, TOKEN) as running:
        yield running


async def ready_client(endpoint: AgentEndpoint, token: str = TOKEN, **kw: Any) -> AgentClient:
    return await AgentClient.wait_ready(endpoint, token, time.monotonic() + 20, **kw)


async def gone(pid: int, within: float = 10.0) -> bool:
    """True once `pid` no longer runs (bounded polling, not a timing assertion)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not proc.pid_alive(pid):
            return True
        await asyncio.sleep(0.02)
    return not proc.pid_alive(pid)


async def wait_for(
    check: Callable[[], Awaitable[bool]], within: float = 15.0, every: float = 0.05
) -> None:
    """Poll `check` every `every` seconds until it is true; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(every)
