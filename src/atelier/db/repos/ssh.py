"""SSH keys of users, upstream keys of sandboxes, and the SSH audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.db.models import AuditEvent, SandboxSshKey, SshKey, User


async def keys_of(session: AsyncSession, user_id: str) -> list[SshKey]:
    """A user's keys, oldest first."""
    query = select(SshKey).where(SshKey.user_id == user_id).order_by(SshKey.created_at)
    return list(await session.scalars(query))


async def key_by_fingerprint(session: AsyncSession, fingerprint: str) -> SshKey | None:
    """The key with this fingerprint, of any user."""
    return await session.scalar(select(SshKey).where(SshKey.fingerprint == fingerprint))


async def key_with_owner(session: AsyncSession, fingerprint: str) -> tuple[SshKey, User] | None:
    """The key with this fingerprint and the user it belongs to."""
    query = (
        select(SshKey, User)
        .join(User, User.id == SshKey.user_id)
        .where(SshKey.fingerprint == fingerprint)
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def user_key(session: AsyncSession, user_id: str, ref: str) -> SshKey | None:
    """One of a user's keys by id, name or fingerprint."""
    query = select(SshKey).where(
        SshKey.user_id == user_id,
        or_(SshKey.id == ref, SshKey.name == ref, SshKey.fingerprint == ref),
    )
    return await session.scalar(query)


async def name_taken(session: AsyncSession, user_id: str, name: str) -> bool:
    """True when the user already has a key with this name."""
    query = select(SshKey.id).where(SshKey.user_id == user_id, SshKey.name == name)
    return await session.scalar(query) is not None


async def touch_key(session: AsyncSession, key_id: str, when: datetime) -> None:
    """Record a key's last use."""
    key = await session.get(SshKey, key_id)
    if key is not None:
        key.last_used_at = when


async def sandbox_key(session: AsyncSession, sandbox_id: str) -> SandboxSshKey | None:
    """The upstream key of a sandbox."""
    return await session.get(SandboxSshKey, sandbox_id)


async def delete_sandbox_key(session: AsyncSession, sandbox_id: str) -> None:
    """Forget a sandbox's upstream key; no error when there is none."""
    await session.execute(delete(SandboxSshKey).where(SandboxSshKey.sandbox_id == sandbox_id))


async def add_audit(
    session: AsyncSession,
    kind: str,
    user_id: str | None,
    sandbox_id: str | None,
    detail: dict[str, Any],
) -> None:
    """Append one audit event."""
    session.add(AuditEvent(kind=kind, user_id=user_id, sandbox_id=sandbox_id, detail=detail))


async def audit_events(
    session: AsyncSession, prefix: str = "ssh.", sandbox_id: str | None = None, limit: int = 100
) -> list[AuditEvent]:
    """The newest audit events whose kind starts with `prefix`, newest first."""
    query = select(AuditEvent).where(AuditEvent.kind.startswith(prefix))
    if sandbox_id is not None:
        query = query.where(AuditEvent.sandbox_id == sandbox_id)
    query = query.order_by(AuditEvent.id.desc()).limit(limit)
    return list(await session.scalars(query))
