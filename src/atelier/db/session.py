"""Engine, sessions and migrations.

SQLite (WAL mode) in the data directory by default; PostgreSQL (asyncpg) when
`database.url` is set. Alembic migrations run at start-up, before anything else touches
the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from atelier.errors import ConfigError, Unavailable

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlite_url(data_dir: Path) -> str:
    """The default database: `<data_dir>/atelier.db`."""
    return f"sqlite+aiosqlite:///{data_dir / 'atelier.db'}"


def _check_url(url: str) -> str:
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return url
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    scheme = url.split("://", 1)[0]
    raise ConfigError(
        f"database.url: scheme {scheme!r} is not supported",
        hint="use postgresql://user:password@host/db, or leave it unset for SQLite",
        field="database.url",
    )


class Database:
    """Owns the engine and hands out sessions."""

    def __init__(self, url: str) -> None:
        self.url = _check_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def migrate(self) -> None:
        """Apply every pending Alembic migration."""
        try:
            async with self.engine.begin() as connection:
                await connection.run_sync(_upgrade)
        except (SQLAlchemyError, OSError) as exc:
            raise Unavailable(
                f"cannot migrate the database at {self.engine.url.render_as_string()}: {exc}",
                hint="check database.url and that the server is reachable",
            ) from exc

    async def ping(self) -> None:
        """Raise Unavailable when the database does not answer."""
        from sqlalchemy import text

        try:
            async with asyncio.timeout(5):
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise Unavailable(f"database unreachable: {exc}") from exc

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()


def _upgrade(connection: Connection) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
