"""The SSH service without sockets: per-sandbox keys, access decisions, audit, the extension."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import asyncssh
import pytest

from atelier.config import AtelierConfig, PathsConfig
from atelier.core.auth import AuthService
from atelier.core.secrets import SecretBox
from atelier.core.spawn import SpawnContext, SpawnRequest
from atelier.core.ssh import SandboxDirectory, SshExtension, SshService, gateway_info
from atelier.db import Database
from atelier.db.models import SandboxSshKey
from atelier.db.session import sqlite_url
from atelier.runtime.network.base import Endpoint
from atelier.runtime.ssh.acl import Allowed, Refused, SandboxRef
from atelier.runtime.ssh.base import GatewayBackend, Identity
from atelier.runtime.ssh.errors import UpstreamFailed
from tests.fakes.ssh import FakeClock, FakeSandboxDirectory

SBX = "abcdefgh"


@dataclass
class Setup:
    service: SshService
    directory: FakeSandboxDirectory
    clock: FakeClock
    db: Database
    alice: Identity
    bob_id: str


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    config = AtelierConfig(paths=PathsConfig(data_dir=tmp_path, run_dir=tmp_path / "run"))
    db = Database(sqlite_url(tmp_path))
    try:
        await db.migrate()
        clock = FakeClock()
        directory = FakeSandboxDirectory()
        service = SshService(config, db, SecretBox.from_data_dir(tmp_path), directory, clock=clock)
        auth = AuthService(db)
        alice, bob = await auth.create_user("alice"), await auth.create_user("bob")
        key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
        view = await service.keys.add(alice.id, key, expires_at=clock() + timedelta(days=1))
        directory.add(SandboxRef(SBX, alice.id), Endpoint("tcp", "127.0.0.1", 2))
        identity = Identity(alice.id, "alice", view.id, view.fingerprint)
        yield Setup(service, directory, clock, db, identity, bob.id)
    finally:
        await db.close()


def test_protocols_are_satisfied() -> None:
    assert isinstance(FakeSandboxDirectory(), SandboxDirectory)
    from atelier.core.ssh import _Backend

    assert isinstance(_Backend(cast(SshService, None)), GatewayBackend)


async def test_guest_key_is_stable_and_encrypted_at_rest(setup: Setup) -> None:
    first = await setup.service.guest_key_material(SBX)
    again = await setup.service.guest_key_material(SBX)
    assert first == again
    assert first.path == "/home/dev/.ssh/authorized_keys" and first.mode == 0o600
    assert first.authorized_keys_line.startswith("ssh-ed25519 AAAA")
    assert first.authorized_keys_line.endswith(f" atelier-gateway@{SBX}")
    async with setup.db.session() as session:
        row = await session.get(SandboxSshKey, SBX)
        assert row is not None and "PRIVATE" not in row.private_key
    upstream = await setup.service._upstream(SBX)
    assert upstream.client_key.get_fingerprint("sha256") == first.fingerprint
    assert upstream.username == "dev" and upstream.endpoint.port == 2
    await setup.service.forget_sandbox(SBX)
    with pytest.raises(UpstreamFailed):
        await setup.service._upstream(SBX)
    assert (await setup.service.guest_key_material(SBX)).fingerprint != first.fingerprint


async def test_authorize_follows_membership_status_and_key(setup: Setup) -> None:
    service, alice = setup.service, setup.alice
    assert await service._authorize(alice, SBX) == Allowed(SBX)
    bob_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    bob_view = await service.keys.add(setup.bob_id, bob_key)
    bob = Identity(setup.bob_id, "bob", bob_view.id, bob_view.fingerprint)
    refused = await service._authorize(bob, SBX)
    assert isinstance(refused, Refused) and refused.reason == "unknown"
    setup.directory.add_member(SBX, setup.bob_id)
    assert await service._authorize(bob, SBX) == Allowed(SBX)
    setup.directory.set_status(SBX, "stopped")
    stopped = await service._authorize(alice, SBX)
    assert isinstance(stopped, Refused) and stopped.reason == "stopped"
    garbage = await service._authorize(alice, "../../etc")
    assert isinstance(garbage, Refused) and garbage.reason == "unknown"
    assert "../../etc" not in setup.directory.lookups
    setup.clock.advance(timedelta(days=2))
    expired = await service._authorize(alice, SBX)
    assert isinstance(expired, Refused) and expired.reason == "key_invalid"
    assert alice.fingerprint in expired.message


async def test_audit_events_and_last_use(setup: Setup) -> None:
    await setup.service._audit("ssh.connect", setup.alice, SBX, {"client": "1.2.3.4:5"})
    await setup.service._audit("ssh.disconnect", setup.alice, SBX, {"duration_s": 1.5})
    events = await setup.service.audit_events(SBX)
    assert [e.kind for e in events] == ["ssh.disconnect", "ssh.connect"]
    assert events[1].detail == {"client": "1.2.3.4:5"} and events[0].user_id == setup.alice.user_id
    keys = await setup.service.keys.list(setup.alice.user_id)
    assert keys[0].last_used_at is not None


@dataclass
class FakeAgent:
    writes: list[tuple[str, bytes, dict[str, Any]]] = field(default_factory=list)

    async def write_file(self, path: str, data: bytes, **kwargs: Any) -> int:
        self.writes.append((path, data, kwargs))
        return len(data)


async def test_extension_injects_the_key_and_forgets_it_on_stop(setup: Setup) -> None:
    agent = FakeAgent()
    request = SpawnRequest(SBX, "minimal", 1, 512, 10, "sandbox")
    ctx = SpawnContext(request, token="t", client=cast(Any, agent))
    extension = SshExtension(setup.service)
    await extension.on_running(ctx, cast(Any, None))
    material = await setup.service.guest_key_material(SBX)
    assert agent.writes == [
        (material.path, (material.authorized_keys_line + "\n").encode(),
         {"mode": 0o600, "owner": 1000}),
    ]  # fmt: skip
    await extension.on_stopped(SBX)
    async with setup.db.session() as session:
        assert await session.get(SandboxSshKey, SBX) is None


async def test_gateway_info_and_probe(setup: Setup) -> None:
    info = gateway_info(setup.service.config)
    assert info.port == 2222 and info.host is None
    assert info.host_key.startswith("ssh-ed25519 ") and info.fingerprint.startswith("SHA256:")
    assert gateway_info(setup.service.config).fingerprint == info.fingerprint  # persisted
    check = await setup.service.probe()
    assert not check.ok and "not listening" in check.detail


async def test_install_wires_hooks_probe_extension_and_api_state(tmp_path: Path) -> None:
    from atelier.api.app import create_app
    from atelier.core.manager import Manager
    from atelier.core.ssh import install_ssh
    from tests.managerkit import fake_runtime, paths

    config = AtelierConfig(paths=paths(tmp_path), ssh={"listen_host": "127.0.0.1", "port": 0})
    manager = Manager(config, runtime=fake_runtime(config))
    directory = FakeSandboxDirectory()
    service = install_ssh(manager, lambda: directory)
    assert any(isinstance(e, SshExtension) for e in manager.extensions)
    app = create_app(manager, manage_lifecycle=False)
    assert app.state.ssh is service
    await manager.start()
    try:
        assert service.directory is directory
        assert service.port > 0
        checks = {c.name: c for c in await manager.health()}
        assert checks["ssh"].ok and f"port {service.port}" in checks["ssh"].detail
        assert service.info().port == service.port
    finally:
        await manager.stop()
    assert service.gateway is None
