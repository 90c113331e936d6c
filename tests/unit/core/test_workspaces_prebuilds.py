"""Prebuild pieces without VMs: live logs, the state summary, the staleness check (against a
real git repository on the host) and cleanup of prebuild artifacts."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from atelier.core.prebuilds.logs import BuildLog, read_chunk
from atelier.core.prebuilds.staleness import check
from atelier.core.prebuilds.views import summary
from atelier.core.workspaces import parse_definition
from atelier.core.workspaces.model import RepoSpec
from atelier.db.models import Prebuild
from atelier.runtime.host import proc

GIT = ["git", "-c", "user.name=T", "-c", "user.email=t@t"]


async def test_followers_get_output_as_it_is_written(tmp_path: Path) -> None:
    log = BuildLog(tmp_path / "b.log")
    log.write("first\n")
    seen: list[str] = []

    async def follow() -> None:
        async for text, _ in log.follow(0):
            seen.append(text)

    reader = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    assert seen == ["first\n"]
    log.write("second ✓\n")
    await asyncio.sleep(0.05)
    assert seen == ["first\n", "second ✓\n"]  # while the build still runs
    log.close()
    await asyncio.wait_for(reader, 5)
    text, offset = read_chunk(tmp_path / "b.log", 0)
    assert text == "first\nsecond ✓\n" and offset == len(text.encode())
    assert (tmp_path / "b.log").stat().st_mode & 0o777 == 0o600


def test_read_chunk_never_splits_a_character(tmp_path: Path) -> None:
    path = tmp_path / "l"
    path.write_bytes("é".encode() + "✓".encode()[:2])
    text, offset = read_chunk(path, 0)
    assert (text, offset) == ("é", 2)


def row(status: str, minutes: int, **kw: Any) -> Prebuild:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    return Prebuild(id=f"p{minutes}", workspace_id="w", status=status, trigger="manual", digest="d",
                    image="minimal", vcpus=1, memory_mb=512, disk_gb=4, created_at=at,
                    finished_at=at, **kw)  # fmt: skip


def test_the_state_summary_keeps_the_last_good_prebuild() -> None:
    assert summary([]).status == "none"
    ready = row("ready", 1, commits={"app": "abc"}, memory_state="/x")
    assert summary([ready]).status == "ready" and summary([ready]).memory_snapshot
    building = row("building", 2)
    state = summary([building, ready])
    assert (state.status, state.ready_id, state.active_id) == ("building", "p1", "p2")
    failed = row("failed", 3, error="init failed")
    state = summary([failed, ready])
    assert state.status == "failed" and state.ready_id == "p1" and "init failed" in state.message
    stale = row("ready", 4, stale_reason="app: main moved")
    assert summary([stale]).status == "stale"


async def test_staleness_follows_the_remote_branch(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    await proc.run(["git", "init", "-q", "-b", "main", repo], timeout=30)
    (repo / "a").write_text("1")
    await proc.run([*GIT, "-C", repo, "add", "a"], timeout=30)
    await proc.run([*GIT, "-C", repo, "commit", "-q", "-m", "one"], timeout=30)
    first = (await proc.run(["git", "-C", repo, "rev-parse", "HEAD"], timeout=30)).text.strip()
    spec = parse_definition({"name": "w", "repos": [{"url": "https://example.test/app.git",
                                                     "path": "app", "branch": "main"}]})  # fmt: skip
    # The URL in a definition must be a network URL; point the check at the local repo.
    spec = dataclasses.replace(spec, repos=(RepoSpec(str(repo), "app", "main"),))
    scratch = tmp_path / "scratch"
    same = await check(spec, spec.build_digest(), {"app": first}, {"app": None}, scratch)
    assert same.stale is False and same.remote == {"app": first}
    (repo / "a").write_text("2")
    await proc.run([*GIT, "-C", repo, "commit", "-q", "-am", "two"], timeout=30)
    moved = await check(spec, spec.build_digest(), {"app": first}, {"app": None}, scratch)
    assert moved.stale is True and "main moved" in moved.reasons[0]
    changed = await check(spec, "other", {"app": moved.remote["app"]}, {"app": None}, scratch)
    assert changed.reasons == ["the workspace definition changed since the prebuild"]
    gone = await check(spec, spec.build_digest(), {}, {}, scratch)
    assert gone.stale  # no recorded commit
    assert list(scratch.iterdir()) == []  # credential directories are removed
