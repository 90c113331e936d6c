"""The dashboard's workspace, dev-command and git-source sources over the real services.

A Manager over fakes (no VMs) with the workspace subsystem installed: definitions are saved
and validated as YAML text, secrets and git sources keep their access rules, a rebuild
queues a real prebuild (which fails on the fake VMM, and its log says so), and dev commands
refuse sandboxes the caller may not see or that do not run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atelier.config import AtelierConfig
from atelier.core.auth import Principal
from atelier.core.devcmds import DevStatus
from atelier.core.manager import Manager
from atelier.core.tasks.system import install_tasks
from atelier.core.workspaces.install import Workspaces, install_workspaces
from atelier.core.workspaces.model import DefinitionInvalid
from atelier.db.models import Sandbox
from atelier.errors import Conflict, NotFound, ValidationError
from atelier.runtime.vmm.config import VmmConfig
from atelier.web.sources import DevCommandSource, GitSourceSource, Sources, WorkspaceSource
from atelier.web.sources.workspaces import dev_state, line_of, workspace_sources
from atelier.web.wiring import dashboard_sources
from tests.managerkit import fake_runtime, paths

DEFINITION = """\
name: web-app
image: minimal
resources:
  vcpus: 1
  memoryMb: 512
dev:
  - name: web
    command: python3 -m http.server 8000
    port: 8000
secrets:
  env: [API_KEY]
prebuild:
  auto: false
"""


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[Manager]:
    # The fake VMM starts no agent: builds fail fast instead of waiting out a real boot.
    config = AtelierConfig(paths=paths(tmp_path), vmm=VmmConfig(boot_timeout_s=1))
    running = Manager(config, runtime=fake_runtime(config))
    install_workspaces(running, None)
    install_tasks(running)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def subsystem(manager: Manager) -> Workspaces:
    from atelier.core.workspaces.install import workspaces_of

    return workspaces_of(manager)


async def _principal(manager: Manager, name: str, role: str = "member") -> Principal:
    user = await manager.auth.create_user(name, role=role)
    return Principal(user.id, user.username, user.role)


def _sources(manager: Manager) -> tuple[WorkspaceSource, DevCommandSource, GitSourceSource]:
    found = workspace_sources(manager)
    workspaces, dev, git = found["workspaces"], found["dev_commands"], found["git_sources"]
    assert isinstance(workspaces, WorkspaceSource)
    assert isinstance(dev, DevCommandSource)
    assert isinstance(git, GitSourceSource)
    return workspaces, dev, git


async def test_wiring_fills_every_source_of_a_full_manager(
    manager: Manager, tmp_path: Path
) -> None:
    sources = dashboard_sources(manager)
    missing = [name for name, value in vars(sources).items() if value is None]
    assert missing == []
    bare = Manager(AtelierConfig(paths=paths(tmp_path / "bare")))
    assert dashboard_sources(bare) == Sources()


async def test_workspace_definitions_round_trip_as_yaml(manager: Manager) -> None:
    workspaces, _, _ = _sources(manager)
    alice = await _principal(manager, "alice")
    bob = await _principal(manager, "bob")

    saved = await workspaces.save(alice, None, DEFINITION)
    assert (saved.name, saved.image, saved.vcpus, saved.memory_mb) == ("web-app", "minimal", 1, 512)
    assert saved.prebuild.status == "none" and saved.sandboxes == 0
    assert [w.id for w in await workspaces.workspaces(alice)] == [saved.id]
    assert await workspaces.workspaces(bob) == []

    detail = await workspaces.get(alice, saved.id)
    assert detail.definition_format == "yaml"
    assert detail.definition.startswith("name: web-app\nimage: minimal\n")
    assert "dev:\n  - name: web\n    command: python3 -m http.server 8000\n" in detail.definition
    again = await workspaces.save(alice, saved.id, detail.definition)  # what the editor sends
    assert again == saved
    assert detail.secret_names == () and detail.repo_paths == ()
    with pytest.raises(NotFound):
        await workspaces.get(bob, saved.id)

    await workspaces.set_secret(alice, saved.id, "API_KEY", "s3cret")
    assert (await workspaces.get(alice, saved.id)).secret_names == ("API_KEY",)
    assert "s3cret" not in (await workspaces.get(alice, saved.id)).definition
    with pytest.raises(ValidationError, match="not declared"):
        await workspaces.set_secret(alice, saved.id, "OTHER", "x")
    with pytest.raises(NotFound):
        await workspaces.set_secret(bob, saved.id, "API_KEY", "x")
    await workspaces.set_secret(alice, saved.id, "API_KEY", None)
    assert (await workspaces.get(alice, saved.id)).secret_names == ()

    repos = "repos:\n  - url: https://example.invalid/app.git\n"
    changed = DEFINITION.replace("vcpus: 1", "vcpus: 2") + repos
    replaced = await workspaces.save(alice, saved.id, changed)
    assert replaced.id == saved.id and replaced.vcpus == 2
    assert replaced.repos == ("https://example.invalid/app.git",)
    assert (await workspaces.get(alice, saved.id)).repo_paths == ("/home/dev/workspace/app",)
    with pytest.raises(DefinitionInvalid, match=r"resources\.vcpus"):
        await workspaces.save(alice, saved.id, DEFINITION.replace("vcpus: 1", "vcpus: 0"))
    with pytest.raises(ValidationError, match="not valid YAML"):
        await workspaces.save(alice, None, "name: [unclosed")
    with pytest.raises(NotFound):
        await workspaces.save(bob, saved.id, DEFINITION)


async def test_validation_names_field_and_line(manager: Manager) -> None:
    workspaces, _, _ = _sources(manager)
    alice = await _principal(manager, "alice")

    assert await workspaces.validate(alice, DEFINITION) == []
    bad_port = DEFINITION.replace("port: 8000", "port: 22")
    problems = await workspaces.validate(alice, bad_port)
    assert [(p.field, p.line, p.severity) for p in problems] == [("dev[0].port", 9, "error")]
    assert "sshd" in problems[0].message
    unknown = await workspaces.validate(alice, DEFINITION + "colour: blue\n")
    assert [(p.field, p.line) for p in unknown] == [("colour", 14)]
    broken = await workspaces.validate(alice, "name: web\ndev:\n  - name: [x\n")
    assert len(broken) == 1 and broken[0].field == "definition" and broken[0].line == 4
    assert "not valid YAML" in broken[0].message
    empty = await workspaces.validate(alice, "")
    assert empty and empty[0].line is None


def test_line_of_follows_paths_and_stops_at_the_closest_parent() -> None:
    assert line_of(DEFINITION, "resources.memoryMb") == 5
    assert line_of(DEFINITION, "dev[0]") == 7
    assert line_of(DEFINITION, "dev[0].command") == 8
    assert line_of(DEFINITION, "dev[3].port") == 6  # no such item: the list's key
    assert line_of(DEFINITION, "secretValues.X") is None
    assert line_of("a: [", "a") is None


async def test_rebuild_queues_a_prebuild_whose_log_is_readable(
    manager: Manager, subsystem: Workspaces
) -> None:
    workspaces, _, _ = _sources(manager)
    alice = await _principal(manager, "alice")
    bob = await _principal(manager, "bob")
    saved = await workspaces.save(alice, None, DEFINITION)
    none_yet = await workspaces.logs(alice, saved.id)
    assert (none_yet.text, none_yet.done) == ("", True)
    with pytest.raises(NotFound):
        await workspaces.rebuild(bob, saved.id)
    with pytest.raises(NotFound):
        await workspaces.logs(bob, saved.id)

    await workspaces.rebuild(alice, saved.id)
    state = await subsystem.prebuilds.state(saved.id)
    assert state.active_id is not None
    await subsystem.prebuilds.wait(state.active_id, 60)
    summary = (await workspaces.get(alice, saved.id)).summary
    assert summary.prebuild.status == "failed" and summary.prebuild.message
    chunk = await workspaces.logs(alice, saved.id)
    assert "prebuild failed" in chunk.text and chunk.done
    rest = await workspaces.logs(alice, saved.id, chunk.next_offset)
    assert rest.text == "" and rest.next_offset == chunk.next_offset


async def test_git_sources_are_listed_and_removed_by_their_owner(
    manager: Manager, subsystem: Workspaces
) -> None:
    _, _, git = _sources(manager)
    alice = await _principal(manager, "alice")
    bob = await _principal(manager, "bob")
    made = await subsystem.sources.create(
        alice, {"name": "gh", "kind": "github", "secret": "ghp_secret_token", "username": "alice"}
    )
    listed = await git.sources(alice)
    assert listed == [(made.id, "gh (github on github.com as alice)")]
    assert "ghp_secret_token" not in repr(listed)
    assert await git.sources(bob) == []
    with pytest.raises(NotFound):
        await git.remove(bob, made.id)
    await git.remove(alice, made.id)
    assert await git.sources(alice) == []


async def test_dev_commands_keep_the_sandbox_access_rules(manager: Manager) -> None:
    _, dev, _ = _sources(manager)
    alice = await _principal(manager, "alice")
    bob = await _principal(manager, "bob")
    async with manager.db.session() as session:
        session.add(
            Sandbox(
                id="devsbx01", owner_id=alice.user_id, image="minimal", vcpus=1, memory_mb=512,
                disk_gb=4, status="stopped", members=[],
            )
        )  # fmt: skip
    with pytest.raises(NotFound):
        await dev.commands(bob, "devsbx01")
    with pytest.raises(NotFound):
        await dev.start(bob, "devsbx01", "web")
    with pytest.raises(Conflict, match="not running"):
        await dev.commands(alice, "devsbx01")
    with pytest.raises(Conflict, match="not running"):
        await dev.logs(alice, "devsbx01", "web")


def _status(state: str, exit_code: int | None = None) -> DevStatus:
    return DevStatus("web", "npm run dev", "/w", 5173, True, "members", state, None, exit_code)


@pytest.mark.parametrize(
    ("state", "exit_code", "shown"),
    [
        ("running", None, "running"),
        ("backoff", 1, "running"),
        ("stopping", None, "stopped"),
        ("stopped", None, "stopped"),
        ("undefined", None, "stopped"),
        ("exited", 0, "exited"),
        ("exited", 3, "failed"),
        ("failed", None, "failed"),
    ],
)
def test_dev_states_map_onto_the_dashboard_four(
    state: str, exit_code: int | None, shown: str
) -> None:
    assert dev_state(_status(state, exit_code)) == shown
