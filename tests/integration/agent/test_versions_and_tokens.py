"""The documented version rule and token rotation, against the real agent.

Rule (docs/agent-protocol.md): the host accepts an agent whose PROTOCOL_VERSION lies in
[MIN_COMPATIBLE_VERSION, PROTOCOL_VERSION]; the agent accepts a host whose range contains its
version. Agents are run with `--protocol-version` to play older or newer releases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.guest import protocol as p
from atelier.runtime.agent import AgentClient, AgentIncompatible, AgentUnauthorized
from tests.fakes.guest_agent import AgentProcess, unix_agent
from tests.integration.agent.conftest import TOKEN, ready_client

PREVIOUS = p.PROTOCOL_VERSION - 1


@pytest.mark.parametrize(
    "version", [PREVIOUS, p.MIN_COMPATIBLE_VERSION, p.PROTOCOL_VERSION, p.PROTOCOL_VERSION + 1]
)
async def test_host_accepts_exactly_the_documented_range(tmp_path: Path, version: int) -> None:
    async with unix_agent(tmp_path, TOKEN, "--protocol-version", str(version)) as agent:
        if p.MIN_COMPATIBLE_VERSION <= version <= p.PROTOCOL_VERSION:
            async with await ready_client(agent.endpoint) as client:
                assert client.agent_version == version
                assert (await client.health()).version == version
        else:
            with pytest.raises(AgentIncompatible) as info:
                await ready_client(agent.endpoint)
            assert str(version) in info.value.message


async def test_previous_version_agent(tmp_path: Path) -> None:
    # With MIN_COMPATIBLE_VERSION == PROTOCOL_VERSION (today) a previous agent is refused;
    # once MIN is kept below CURRENT it is accepted. The test follows the constants.
    accepted = p.MIN_COMPATIBLE_VERSION <= PREVIOUS
    async with unix_agent(tmp_path, TOKEN, "--protocol-version", str(PREVIOUS)) as agent:
        if accepted:
            async with await ready_client(agent.endpoint) as client:
                assert (await client.exec(["true"])).ok
        else:
            with pytest.raises(AgentIncompatible, match="protocol"):
                await AgentClient.connect(agent.endpoint, TOKEN)


async def test_agent_refuses_a_host_range_without_its_version(agent: AgentProcess) -> None:
    newer_host = (p.PROTOCOL_VERSION + 1, p.PROTOCOL_VERSION + 3)
    with pytest.raises(AgentIncompatible) as info:
        await AgentClient.connect(agent.endpoint, TOKEN, versions=newer_host)
    assert "accepts" in info.value.message


async def test_rotated_token_refuses_the_old_one(agent: AgentProcess, client: AgentClient) -> None:
    new = "rotated-token-abcdefghijklmnop"
    await client.rotate_token(new)
    assert client.token == new
    assert (await client.exec(["true"])).ok
    async with AgentClient(agent.endpoint, TOKEN) as old:
        with pytest.raises(AgentUnauthorized):
            await old.health()
    async with await ready_client(agent.endpoint, token=new) as fresh:
        assert (await fresh.health()).status == "ok"


async def test_token_file_is_rewritten_on_rotation(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    (tmp_path / "run").mkdir()
    args = ("--token-file", str(token_file))
    async with (
        unix_agent(tmp_path / "run", "", *args) as agent,
        await ready_client(agent.endpoint) as client,
    ):
        await client.rotate_token("another-token-0123456789")
    assert token_file.read_text() == "another-token-0123456789"
    assert token_file.stat().st_mode & 0o777 == 0o600
