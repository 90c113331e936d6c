"""Round trips of the real guest agent run on the host, over a Unix socket and a virtio-serial
imitation (FIFO pair + relay): health, exec /bin/true, 8 MiB write and read.

Prints per-transport figures and, last, one JSON line. Usage:
    .venv/bin/python benchmarks/agent_roundtrip.py [rounds]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.guest_agent import serial_agent, unix_agent  # needs the repository root

from atelier.runtime.agent import AgentClient, AgentEndpoint

TOKEN = "bench-token-0123456789abcdef"


async def measure(client: AgentClient, rounds: int) -> dict[str, float]:
    async def timed(coro_factory: object, n: int) -> float:
        assert callable(coro_factory)
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            await coro_factory()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    data = os.urandom(8 << 20)
    with tempfile.TemporaryDirectory() as tmp:
        target = f"{tmp}/blob"
        return {
            "health_ms": 1000 * await timed(client.health, rounds * 10),
            "exec_true_ms": 1000 * await timed(lambda: client.exec(["true"]), rounds * 5),
            "write_8mib_s": await timed(lambda: client.write_file(target, data), rounds),
            "read_8mib_s": await timed(lambda: client.read_file(target), rounds),
        }


async def run(endpoint: AgentEndpoint, rounds: int) -> dict[str, float]:
    deadline = time.monotonic() + 20
    async with await AgentClient.wait_ready(endpoint, TOKEN, deadline) as client:
        return await measure(client, rounds)


async def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "u").mkdir()
        async with unix_agent(Path(tmp) / "u", TOKEN) as agent:
            results["unix"] = await run(agent.endpoint, rounds)
        (Path(tmp) / "s").mkdir()
        async with serial_agent(Path(tmp) / "s", TOKEN) as (agent, _relay):
            results["serial"] = await run(agent.endpoint, rounds)
    for name, figures in results.items():
        print(name, " ".join(f"{k}={v:.3f}" for k, v in figures.items()))
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
