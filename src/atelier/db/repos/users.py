"""Users and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.db.models import ApiToken, User


async def get(session: AsyncSession, user_id: str) -> User | None:
    """A user by id."""
    return await session.get(User, user_id)


async def by_username(session: AsyncSession, username: str) -> User | None:
    """A user by username."""
    return await session.scalar(select(User).where(User.username == username))


async def by_github(session: AsyncSession, login: str) -> User | None:
    """A user by GitHub login."""
    return await session.scalar(select(User).where(User.github_login == login))


async def list_all(session: AsyncSession) -> list[User]:
    """Every user, by username."""
    return list(await session.scalars(select(User).order_by(User.username)))


async def count(session: AsyncSession) -> int:
    """How many users exist."""
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def token_by_hash(session: AsyncSession, token_hash: str) -> ApiToken | None:
    """A token (with its user) by the SHA-256 of its secret."""
    return await session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


async def tokens_of(session: AsyncSession, user_id: str, kind: str = "api") -> list[ApiToken]:
    """A user's tokens of one kind, newest first."""
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.kind == kind)
        .order_by(ApiToken.created_at.desc())
    )
    return list(await session.scalars(query))


async def touch_token(session: AsyncSession, token: ApiToken, when: datetime) -> None:
    """Record a token's last use."""
    token.last_used_at = when
