"""Rollback: undos run in reverse on failure, are dropped on success, survive cancellation."""

from __future__ import annotations

import asyncio
import functools

import pytest

from atelier.core.rollback import Rollback


async def test_undos_run_in_reverse_order_on_failure() -> None:
    done: list[str] = []

    async def undo(name: str) -> None:
        done.append(name)

    with pytest.raises(RuntimeError):
        async with Rollback("t") as rb:
            for name in ("volume", "network", "vm"):
                rb.push(name, functools.partial(undo, name))
            raise RuntimeError("boom")
    assert done == ["vm", "network", "volume"]


async def test_success_drops_undos() -> None:
    done: list[str] = []

    async def undo() -> None:
        done.append("x")

    async with Rollback("t") as rb:
        rb.push("x", undo)
    assert done == []


async def test_a_failing_undo_does_not_stop_the_others() -> None:
    done: list[str] = []

    async def good() -> None:
        done.append("good")

    async def bad() -> None:
        raise OSError("cannot")

    rb = Rollback("t")
    with pytest.raises(ValueError):
        async with rb:
            rb.push("good", good)
            rb.push("bad", bad)
            raise ValueError("original")
    assert done == ["good"]
    assert len(rb.failures) == 1


async def test_cancellation_still_unwinds() -> None:
    done: list[str] = []
    started = asyncio.Event()

    async def undo() -> None:
        await asyncio.sleep(0.01)
        done.append("undone")

    async def spawn() -> None:
        async with Rollback("t") as rb:
            rb.push("thing", undo)
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(spawn())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done == ["undone"]
