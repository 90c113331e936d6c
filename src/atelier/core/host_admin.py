"""Host-side administration that works without a running manager.

`atelier user …` and `atelier token …` run on the host and act on the manager's database
directly (the host's root is trusted with it), so the first admin can be created before
anyone can log in. Migrations are applied first, as the manager would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from atelier.config import AtelierConfig
from atelier.core.auth import AuthService
from atelier.db import Database
from atelier.db.session import sqlite_url


@asynccontextmanager
async def local_auth(config: AtelierConfig) -> AsyncIterator[AuthService]:
    """An AuthService on the host's database (migrated), closed on exit."""
    config.paths.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    url = (
        config.database.url.get_secret_value()
        if config.database.url
        else sqlite_url(config.paths.data_dir)
    )
    db = Database(url)
    try:
        await db.migrate()
        yield AuthService(db)
    finally:
        await db.close()
