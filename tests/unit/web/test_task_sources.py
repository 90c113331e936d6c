"""The dashboard's task, template, attention and OpenCode config sources over the real services."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atelier.config import AtelierConfig
from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.core.tasks.system import install_tasks
from atelier.errors import Conflict, Forbidden
from atelier.web.sources import (
    AttentionSource,
    OpencodeConfigSource,
    TaskDraft,
    TaskSource,
    TemplateSource,
)
from atelier.web.sources.tasks import task_sources
from tests.managerkit import fake_runtime, paths


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[Manager]:
    config = AtelierConfig(paths=paths(tmp_path))
    running = Manager(config, runtime=fake_runtime(config))
    install_tasks(running)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def _principal(manager: Manager, name: str, role: str = "member") -> Principal:
    user = await manager.auth.create_user(name, role=role)
    return Principal(user.id, user.username, user.role)


async def test_sources_implement_the_protocols_and_work(manager: Manager) -> None:
    sources = task_sources(manager)
    assert isinstance(sources["tasks"], TaskSource)
    assert isinstance(sources["templates"], TemplateSource)
    assert isinstance(sources["attention"], AttentionSource)
    assert isinstance(sources["opencode_config"], OpencodeConfigSource)
    alice = await _principal(manager, "alice")
    admin = await _principal(manager, "root", "admin")

    templates = await sources["templates"].templates(alice)
    assert [t.id for t in templates][:1] == ["implement"]
    assert templates[0].efforts == ("low", "medium", "high", "max")

    created = await sources["tasks"].create(alice, TaskDraft("Fix it", "please fix"))
    assert created.status == "draft" and "start" in created.actions
    listed = await sources["tasks"].tasks(alice)
    assert [t.id for t in listed] == [created.id]
    detail = await sources["tasks"].get(alice, created.id)
    assert detail.description == "please fix"
    assert [r.id for r in detail.reviews] == ["best-practices", "security-review", "simplification"]
    with pytest.raises(Conflict, match="done is allowed only"):
        await sources["tasks"].act(alice, created.id, "done")
    await sources["tasks"].act(alice, created.id, "delete")
    assert await sources["tasks"].tasks(alice) == []
    assert await sources["attention"].pending(alice) == []

    settings = sources["opencode_config"]
    assert json.loads(await settings.get(alice)) == {}
    with pytest.raises(Forbidden):
        await settings.save(alice, '{"model": "a/b"}')
    assert await settings.save(admin, "{") != []
    assert await settings.save(admin, '{"model": "a/b"}') == []
    assert json.loads(await settings.get(alice)) == {"model": "a/b"}
