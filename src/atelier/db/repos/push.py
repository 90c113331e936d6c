"""Web Push subscriptions of dashboard users."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.db.models import PushSubscription


async def by_endpoint_hash(session: AsyncSession, endpoint_hash: str) -> PushSubscription | None:
    """The subscription for one endpoint (of any user)."""
    query = select(PushSubscription).where(PushSubscription.endpoint_hash == endpoint_hash)
    return await session.scalar(query)


async def of_user(session: AsyncSession, user_id: str) -> list[PushSubscription]:
    """A user's subscriptions, oldest first."""
    query = (
        select(PushSubscription)
        .where(PushSubscription.user_id == user_id)
        .order_by(PushSubscription.created_at)
    )
    return list(await session.scalars(query))


async def of_users(session: AsyncSession, user_ids: Iterable[str] | None) -> list[PushSubscription]:
    """Subscriptions of these users (every user's when None)."""
    query = select(PushSubscription)
    if user_ids is not None:
        query = query.where(PushSubscription.user_id.in_(list(user_ids)))
    return list(await session.scalars(query))


async def remove(session: AsyncSession, subscription_id: str, user_id: str | None = None) -> int:
    """Delete a subscription (only the user's own when `user_id` is given); rows removed."""
    query = delete(PushSubscription).where(PushSubscription.id == subscription_id)
    if user_id is not None:
        query = query.where(PushSubscription.user_id == user_id)
    result = await session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)
