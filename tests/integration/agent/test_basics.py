"""The real agent over a Unix socket: health, metrics, auth, host-mode limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.runtime.agent import AgentClient, AgentUnauthorized
from atelier.runtime.agent.errors import AgentUnsupported
from tests.fakes.guest_agent import AgentProcess
from tests.integration.agent.conftest import gone


async def test_health(client: AgentClient) -> None:
    health = await client.health()
    assert health.status == "ok"
    assert health.version == client.agent_version
    assert health.uptime_s > 0 and health.boot_id


async def test_metrics(client: AgentClient) -> None:
    metrics = await client.metrics()
    assert metrics.memory_total > 0 and metrics.disk_total > 0 and metrics.cpu_count >= 1


@pytest.mark.parametrize("token", ["", "wrong-token-0123456789"])
async def test_request_without_the_token_is_refused_without_side_effect(
    agent: AgentProcess, tmp_path: Path, token: str
) -> None:
    marker = tmp_path / "should-not-exist"
    async with AgentClient(agent.endpoint, token) as stranger:
        with pytest.raises(AgentUnauthorized) as info:
            await stranger.exec(["touch", str(marker)])
        with pytest.raises(AgentUnauthorized):
            await stranger.write_file(str(marker), b"x")
    assert "token" in info.value.message
    assert not marker.exists()


async def test_machine_changes_need_a_system_agent(client: AgentClient) -> None:
    with pytest.raises(AgentUnsupported):
        await client.set_time()
    with pytest.raises(AgentUnsupported):
        await client.configure_network(ip="10.0.0.2/24")


async def test_reseed_without_system_only_mixes(client: AgentClient) -> None:
    result = await client.reseed(32)
    assert result == {"bytes": 32, "credited_bits": 0, "reseeded": False}


async def test_poweroff_of_a_host_agent_ends_it(agent: AgentProcess, client: AgentClient) -> None:
    await client.poweroff()
    assert await gone(agent.pid)
