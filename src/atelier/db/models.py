"""The manager's tables.

Ids are the short DNS-safe ids from `atelier.runtime.host.names.new_id()` so they can appear
in host names. Secrets (agent tokens, workspace secrets) are stored encrypted by the core
services; this module only declares columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from atelier.db.types import UTCDateTime, utcnow


class Base(DeclarativeBase):
    """Declarative base for every table."""

    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class User(Base):
    """A person using Atelier: an admin or a member."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), default="member")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    github_login: Mapped[str | None] = mapped_column(String(64), unique=True)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token for the API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="api")  # api | session
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship(lazy="joined")


class Sandbox(Base):
    """A sandbox and everything needed to find its host resources again."""

    __tablename__ = "sandboxes"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    workspace_id: Mapped[str | None] = mapped_column(String(16), index=True)
    image: Mapped[str] = mapped_column(String(64))
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_gb: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    error_step: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    volume: Mapped[str | None] = mapped_column(String(64))
    source_volume: Mapped[str | None] = mapped_column(String(64))
    vm: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # VmHandle as JSON while running
    agent_token: Mapped[str | None] = mapped_column(String(255))  # encrypted
    spawn_steps: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    queued_seq: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    stopped_at: Mapped[datetime | None] = mapped_column()
    last_activity_at: Mapped[datetime | None] = mapped_column()

    members: Mapped[list[SandboxMember]] = relationship(
        back_populates="sandbox", cascade="all, delete-orphan", lazy="selectin"
    )


class SandboxMember(Base):
    """A user other than the owner who may see and use a sandbox."""

    __tablename__ = "sandbox_members"
    __table_args__ = (UniqueConstraint("sandbox_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sandbox_id: Mapped[str] = mapped_column(ForeignKey("sandboxes.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    sandbox: Mapped[Sandbox] = relationship(back_populates="members")


class NetworkAllocation(Base):
    """A sandbox's network identity (the network driver's Allocation as JSON)."""

    __tablename__ = "network_allocations"

    sandbox_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NetworkClaim(Base):
    """One host-wide unique resource an allocation holds (`ip4:…`, `mac:…`, `tap:…`,
    `port:…`); the primary key makes the database refuse double allocation."""

    __tablename__ = "network_claims"

    claim: Mapped[str] = mapped_column(String(96), primary_key=True)
    sandbox_id: Mapped[str] = mapped_column(
        ForeignKey("network_allocations.sandbox_id", ondelete="CASCADE"), index=True
    )


class AuditEvent(Base):
    """Security-relevant events kept for review (SSH sessions, logins, token use)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(16))
    sandbox_id: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SshKey(Base):
    """A user's public key for the SSH gateway; the fingerprint is unique across users."""

    __tablename__ = "ssh_keys"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(Text)  # "type base64", no comment
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    comment: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()


class SandboxSshKey(Base):
    """The key the SSH gateway logs in to one sandbox's sshd with (private half encrypted)."""

    __tablename__ = "sandbox_ssh_keys"

    sandbox_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    private_key: Mapped[str] = mapped_column(Text)  # encrypted by the SecretBox
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PushSubscription(Base):
    """A browser's Web Push subscription (RFC 8030/8291) for dashboard notifications."""

    __tablename__ = "push_subscriptions"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(Text)
    endpoint_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of endpoint
    p256dh: Mapped[str] = mapped_column(String(128))  # the browser's P-256 key, base64url
    auth: Mapped[str] = mapped_column(String(64))  # the 16-byte auth secret, base64url
    user_agent: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sent_at: Mapped[datetime | None] = mapped_column()
    failures: Mapped[int] = mapped_column(Integer, default=0)
