"""OpenCode around tasks: per-sandbox servers, config files, templates, shared credentials,
users' AI settings and attention records."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.db.models import (
    AiSettings,
    AttentionRecord,
    OpencodeConfigFile,
    SandboxAuthState,
    SandboxOpencode,
    SessionTemplateRecord,
    SharedCredential,
)

# -- per-sandbox OpenCode ------------------------------------------------------------------


async def server(session: AsyncSession, sandbox_id: str) -> SandboxOpencode | None:
    return await session.get(SandboxOpencode, sandbox_id)


async def servers(session: AsyncSession, state: str | None = None) -> list[SandboxOpencode]:
    query = select(SandboxOpencode)
    if state is not None:
        query = query.where(SandboxOpencode.state == state)
    return list(await session.scalars(query))


async def drop_server(session: AsyncSession, sandbox_id: str) -> None:
    await session.execute(delete(SandboxOpencode).where(SandboxOpencode.sandbox_id == sandbox_id))


# -- config files ------------------------------------------------------------------------


async def config_files(session: AsyncSession, scopes: Iterable[str]) -> list[OpencodeConfigFile]:
    query = (
        select(OpencodeConfigFile)
        .where(OpencodeConfigFile.scope.in_(list(scopes)))
        .order_by(OpencodeConfigFile.path)
    )
    return list(await session.scalars(query))


async def config_file(session: AsyncSession, scope: str, path: str) -> OpencodeConfigFile | None:
    query = select(OpencodeConfigFile).where(
        OpencodeConfigFile.scope == scope, OpencodeConfigFile.path == path
    )
    return (await session.scalars(query)).first()


# -- session templates -------------------------------------------------------------------


async def templates(session: AsyncSession, scope: str) -> list[SessionTemplateRecord]:
    query = (
        select(SessionTemplateRecord)
        .where(SessionTemplateRecord.scope == scope)
        .order_by(SessionTemplateRecord.id)
    )
    return list(await session.scalars(query))


async def template(
    session: AsyncSession, scope: str, template_id: str
) -> SessionTemplateRecord | None:
    query = select(SessionTemplateRecord).where(
        SessionTemplateRecord.scope == scope, SessionTemplateRecord.template_id == template_id
    )
    return (await session.scalars(query)).first()


# -- shared credentials ------------------------------------------------------------------


async def credentials(session: AsyncSession, user_id: str) -> list[SharedCredential]:
    query = (
        select(SharedCredential)
        .where(SharedCredential.user_id == user_id)
        .order_by(SharedCredential.provider)
    )
    return list(await session.scalars(query))


async def settings(session: AsyncSession, user_id: str) -> AiSettings | None:
    return await session.get(AiSettings, user_id)


async def auth_state(session: AsyncSession, sandbox_id: str) -> SandboxAuthState | None:
    return await session.get(SandboxAuthState, sandbox_id)


async def set_auth_state(session: AsyncSession, sandbox_id: str, prints: dict[str, Any]) -> None:
    row = await session.get(SandboxAuthState, sandbox_id)
    if row is None:
        session.add(SandboxAuthState(sandbox_id=sandbox_id, fingerprints=prints))
    else:
        row.fingerprints = prints


# -- attention ---------------------------------------------------------------------------


async def attention(session: AsyncSession, item_id: str) -> AttentionRecord | None:
    return await session.get(AttentionRecord, item_id)


async def open_attention(session: AsyncSession, sandbox_id: str) -> list[AttentionRecord]:
    query = select(AttentionRecord).where(
        AttentionRecord.sandbox_id == sandbox_id, AttentionRecord.resolved_at.is_(None)
    )
    return list(await session.scalars(query))


async def unresolved_attention(session: AsyncSession) -> list[AttentionRecord]:
    query = select(AttentionRecord).where(AttentionRecord.resolved_at.is_(None))
    return list(await session.scalars(query))


async def resolve_attention(
    session: AsyncSession,
    item_id: str,
    at: datetime,
    by: str | None,
    reply: str | None,
) -> AttentionRecord | None:
    row = await session.get(AttentionRecord, item_id)
    if row is not None and row.resolved_at is None:
        row.resolved_at, row.resolved_by, row.reply = at, by, reply
    return row
