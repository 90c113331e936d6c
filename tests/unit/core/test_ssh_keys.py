"""Users' SSH keys: validation, uniqueness, expiry against the clock, removal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncssh
import pytest

from atelier.core.auth import AuthService
from atelier.core.ssh_keys import SshKeys
from atelier.db import Database
from atelier.db.models import User
from atelier.db.session import sqlite_url
from atelier.errors import Conflict, NotFound, ValidationError
from atelier.runtime.ssh.errors import SshKeyInvalid
from tests.fakes.ssh import FakeClock


def public_key(comment: str = "me@laptop") -> str:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    return str(key.export_public_key().decode())


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(sqlite_url(tmp_path))
    try:
        await database.migrate()
        yield database
    finally:
        await database.close()


async def test_add_list_identify_remove(db: Database) -> None:
    clock = FakeClock()
    keys = SshKeys(db, clock=clock)
    user = await AuthService(db).create_user("alice")
    added = await keys.add(user.id, public_key())
    assert added.name == "me@laptop" and not added.expired
    assert [k.id for k in await keys.list(user.id)] == [added.id]
    identity = await keys.identify(added.fingerprint)
    assert identity is not None and identity.username == "alice"
    assert identity.key_id == added.id
    assert (await keys.remove(user.id, added.fingerprint)).id == added.id
    assert await keys.identify(added.fingerprint) is None
    with pytest.raises(NotFound):
        await keys.remove(user.id, added.id)


async def test_a_key_belongs_to_one_user_and_names_are_unique(db: Database) -> None:
    keys = SshKeys(db)
    auth = AuthService(db)
    alice, bob = await auth.create_user("alice"), await auth.create_user("bob")
    text = public_key()
    await keys.add(alice.id, text, name="laptop")
    with pytest.raises(Conflict) as info:
        await keys.add(bob.id, text)
    assert info.value.field == "public_key"
    with pytest.raises(Conflict) as named:
        await keys.add(alice.id, public_key(), name="laptop")
    assert named.value.field == "name"
    other = await keys.add(bob.id, public_key(), name="laptop")
    with pytest.raises(NotFound):
        await keys.remove(alice.id, other.id)  # not alice's key


async def test_expiry_is_checked_against_the_clock(db: Database) -> None:
    clock = FakeClock()
    keys = SshKeys(db, clock=clock)
    user = await AuthService(db).create_user("alice")
    with pytest.raises(ValidationError) as info:
        await keys.add(user.id, public_key(), expires_at=clock() - timedelta(seconds=1))
    assert info.value.field == "expires_at"
    added = await keys.add(user.id, public_key(), expires_at=clock() + timedelta(hours=1))
    assert await keys.identify(added.fingerprint) is not None
    clock.advance(timedelta(hours=1))
    assert await keys.identify(added.fingerprint) is None
    assert (await keys.list(user.id))[0].expired


async def test_disabled_users_keys_do_not_log_in(db: Database) -> None:
    keys = SshKeys(db)
    user = await AuthService(db).create_user("alice")
    added = await keys.add(user.id, public_key())
    async with db.session() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.disabled = True
    assert await keys.identify(added.fingerprint) is None


async def test_bad_input_is_refused(db: Database) -> None:
    keys = SshKeys(db)
    user = await AuthService(db).create_user("alice")
    with pytest.raises(SshKeyInvalid):
        await keys.add(user.id, "ssh-ed25519 nope")
    with pytest.raises(ValidationError) as info:
        await keys.add(user.id, public_key(), name=" leading space")
    assert info.value.field == "name"


async def test_default_names_come_from_comment_or_fingerprint(db: Database) -> None:
    keys = SshKeys(db)
    user = await AuthService(db).create_user("alice")
    odd = await keys.add(user.id, public_key("John's key (work)"))
    assert odd.name == "John-s key -work"
    bare = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    unnamed = await keys.add(user.id, " ".join(bare.split()[:2]))
    assert unnamed.name.startswith("key-") and unnamed.name[4:].isalnum()
    assert unnamed.comment is None


async def test_migration_0002_matches_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.engine import Connection

    from atelier.db.models import Base

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as connection:
        changes = await connection.run_sync(diff)
    mine = [c for c in changes if "ssh_keys" in repr(c)]  # other tables have their own tests
    assert mine == []
