"""Persistence on both backends: migrations match the models, auth, sandboxes, allocations."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from atelier.core.auth import AuthService, Principal
from atelier.core.network_store import DbAllocationRepository
from atelier.db import Database
from atelier.db.models import Base, Sandbox, SandboxMember
from atelier.db.repos import sandboxes as repo
from atelier.errors import Conflict, Unauthorized
from atelier.runtime.host import names
from atelier.runtime.network.bridge import BridgeNetwork
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.network.errors import AllocationConflict


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(db: Database) -> None:
    async with db.engine.connect() as connection:
        diff = await connection.run_sync(_diff)
    assert diff == []


async def test_migrating_twice_is_a_no_op(db: Database) -> None:
    await db.migrate()
    await db.ping()


async def test_users_and_tokens(db: Database) -> None:
    auth = AuthService(db)
    alice = await auth.create_user("alice", role="admin", password="correct horse")
    with pytest.raises(Conflict):
        await auth.create_user("alice")
    view, raw = await auth.create_token(alice.id, "ci")
    principal = await auth.authenticate(raw)
    assert principal.username == "alice" and principal.is_admin
    assert (await auth.verify_password("alice", "correct horse")).user_id == alice.id
    with pytest.raises(Unauthorized):
        await auth.verify_password("alice", "wrong horse!")
    await auth.revoke_token(Principal(alice.id, "alice", "admin"), view.id)
    with pytest.raises(Unauthorized):
        await auth.authenticate(raw)


async def test_sandbox_visibility_follows_ownership_and_membership(db: Database) -> None:
    auth = AuthService(db)
    alice = await auth.create_user("alice")
    bob = await auth.create_user("bob")
    carol = await auth.create_user("carol")
    async with db.session() as session:
        session.add(Sandbox(id="aaaaaaaa", owner_id=alice.id, image="minimal", vcpus=1,
                            memory_mb=512, disk_gb=4, status="running",
                            members=[SandboxMember(user_id=bob.id)]))  # fmt: skip
        session.add(Sandbox(id="bbbbbbbb", owner_id=carol.id, image="minimal", vcpus=1,
                            memory_mb=512, disk_gb=4, status="destroyed", members=[]))  # fmt: skip
    async with db.session() as session:
        assert [s.id for s in await repo.visible(session, bob.id, is_admin=False)] == ["aaaaaaaa"]
        assert await repo.visible(session, carol.id, is_admin=False) == []
        everything = await repo.visible(session, carol.id, is_admin=True, include_destroyed=True)
        assert {s.id for s in everything} == {"aaaaaaaa", "bbbbbbbb"}
        assert await repo.count(session, ["running"], owner_id=alice.id) == 1


async def test_allocation_claims_are_unique_in_the_database(db: Database, tmp_path: Path) -> None:
    repository = DbAllocationRepository(db)
    network = BridgeNetwork(NetworkConfig(), repository, state_dir=tmp_path)
    ids = [names.new_id() for _ in range(50)]
    allocations = await asyncio.gather(*(network.reserve(i) for i in ids))
    assert len({a.ip for a in allocations}) == 50
    assert len({a.mac for a in allocations}) == 50
    assert len({a.tap for a in allocations}) == 50
    stored = await repository.list_all()
    assert len(stored) == 50
    taken = allocations[0]
    clash = dataclasses.replace(taken, sandbox_id="zzzzzzzz")
    with pytest.raises(AllocationConflict) as info:
        await repository.reserve(clash)
    assert info.value.holder == taken.sandbox_id
    await repository.delete(taken.sandbox_id)
    await repository.reserve(clash)
    assert (await repository.get("zzzzzzzz")) is not None
