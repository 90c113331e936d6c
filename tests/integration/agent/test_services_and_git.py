"""Services (define, start, logs, stop, restart with backoff, remove) and git status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atelier.runtime.agent import AgentClient
from atelier.runtime.agent.errors import AgentBadRequest, AgentNotFound
from atelier.runtime.host import proc
from tests.integration.agent.conftest import gone, wait_for


async def test_service_lifecycle(client: AgentClient, tmp_path: Path) -> None:
    spec = {
        "shell": "echo started as $(id -un); exec sleep 300",
        "user": "nobody",
        "restart": "always",
    }
    status = await client.service_define("web", spec)
    assert status.state == "stopped"
    assert json.loads((tmp_path / "services" / "web.json").read_text())["user"] == "nobody"
    started = await client.service_start("web")
    assert started.state == "running" and started.pid

    async def logged() -> bool:
        return b"started as nobody" in (await client.service_logs("web", tail=4096)).data

    await wait_for(logged)
    stopped = await client.service_stop("web")
    assert stopped.state == "stopped" and stopped.pid is None
    assert await gone(started.pid)
    restarted = await client.service_restart("web")
    assert restarted.state == "running" and restarted.pid != started.pid
    assert [s.name for s in await client.service_list()] == ["web"]
    await client.service_remove("web")
    assert await gone(restarted.pid or 0)
    with pytest.raises(AgentNotFound):
        await client.service_status("web")


async def test_failing_service_restarts_with_backoff(client: AgentClient) -> None:
    await client.service_define(
        "flaky", {"argv": ["sh", "-c", "echo run; exit 3"], "restart_delay_s": 0.1}
    )
    await client.service_start("flaky")

    async def restarted_twice() -> bool:
        return (await client.service_status("flaky")).restarts >= 2

    await wait_for(restarted_twice)
    status = await client.service_stop("flaky")
    assert status.state == "stopped" and status.exit == {"exit_code": 3, "signal": None}


async def test_invalid_definitions_are_refused_with_the_field(
    client: AgentClient, tmp_path: Path
) -> None:
    with pytest.raises(AgentBadRequest, match="restart"):
        await client.service_define("bad", {"argv": ["true"], "restart": "sometimes"})
    with pytest.raises(AgentBadRequest, match="unknown field"):
        await client.service_define("bad", {"argv": ["true"], "comand": "x"})
    (tmp_path / "services").mkdir(exist_ok=True)
    (tmp_path / "services" / "broken.json").write_text("{not json")
    listed = {s.name: s for s in await client.service_list()}
    assert listed["broken"].state == "invalid" and "JSON" in (listed["broken"].error or "")


async def git(repo: Path, *args: str) -> None:
    await proc.run(["git", "-C", str(repo), *args], timeout=30)


async def test_git_status_and_diff_stat(client: AgentClient, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    await git(repo, "init", "-q", "-b", "main")
    await git(repo, "config", "user.email", "t@example.com")
    await git(repo, "config", "user.name", "T")
    (repo / "a.txt").write_text("1\n2\n3\n")
    await git(repo, "add", "a.txt")
    await git(repo, "commit", "-q", "-m", "first")
    (repo / "a.txt").write_text("1\n2\n3\n4\n")
    await git(repo, "add", "a.txt")  # staged: +1
    (repo / "a.txt").write_text("1\n2\n3\n4\n5\n")  # and modified again: +1 more
    (repo / "new.txt").write_text("x\n")
    status = await client.git_status(str(repo))
    assert (status.branch, status.detached, status.dirty) == ("main", False, True)
    assert (status.staged, status.unstaged, status.untracked) == (1, 1, 1)
    # Working tree vs HEAD: a.txt gained 2 lines, counted once even though partly staged.
    assert (status.added, status.removed) == (2, 0)
    assert status.last_commit is not None and status.last_commit["subject"] == "first"
    with pytest.raises(AgentNotFound):
        await client.git_status(str(tmp_path / "services"))
