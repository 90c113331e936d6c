"""The same persistence tests on SQLite (WAL) and PostgreSQL.

PostgreSQL is the server `.ci/run` starts (scripts/ci-services.sh): role `atelier`,
database `atelier_test` on 127.0.0.1:5432. Each test starts from an empty schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from atelier.db import Database
from atelier.db.session import sqlite_url

POSTGRES_URL = "postgresql+asyncpg://atelier:atelier@127.0.0.1:5432/atelier_test"


async def _reset_postgres() -> None:
    engine = create_async_engine(POSTGRES_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database of each kind."""
    if request.param == "postgres":
        await _reset_postgres()
        database = Database(POSTGRES_URL)
    else:
        database = Database(sqlite_url(tmp_path))
    await database.migrate()
    try:
        yield database
    finally:
        await database.close()
