"""The spawn queue: a concurrency limit and arrival order."""

from __future__ import annotations

import asyncio

from atelier.core.queue import SpawnQueue


async def test_limit_and_fifo_order() -> None:
    queue = SpawnQueue(limit=2)
    started: list[str] = []
    release = asyncio.Event()
    running_max = 0

    def job(name: str):  # type: ignore[no-untyped-def]  # returns a coroutine factory
        async def run() -> None:
            nonlocal running_max
            started.append(name)
            running_max = max(running_max, queue.running)
            await release.wait()

        return run

    for name in ("a", "b", "c", "d"):
        queue.submit(name, queue.next_seq(), job(name))
    await asyncio.sleep(0.05)
    assert started == ["a", "b"]
    assert queue.waiting == ["c", "d"]
    assert queue.position("c") == 1 and queue.position("d") == 2
    release.set()
    for _ in range(100):
        if len(started) == 4:
            break
        await asyncio.sleep(0.01)
    assert started == ["a", "b", "c", "d"]
    assert running_max <= 2
    await queue.drain()


async def test_cancel_a_waiting_job() -> None:
    queue = SpawnQueue(limit=1)
    gate = asyncio.Event()
    ran: list[str] = []

    async def blocker() -> None:
        await gate.wait()

    async def victim() -> None:
        ran.append("victim")

    queue.submit("a", 1, blocker)
    queue.submit("b", 2, victim)
    await asyncio.sleep(0.01)
    assert queue.cancel("b")
    gate.set()
    await asyncio.sleep(0.05)
    assert ran == []
    await queue.drain()
