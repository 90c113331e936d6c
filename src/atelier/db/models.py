"""The manager's tables.

Ids are the short DNS-safe ids from `atelier.runtime.host.names.new_id()` so they can appear
in host names. Secrets (agent tokens, workspace secrets) are stored encrypted by the core
services; this module only declares columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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


# -- AI tasks (issue 12) ------------------------------------------------------------------


class Task(Base):
    """An AI coding task: a prompt run by OpenCode in its own sandbox on its own branch."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_status_workspace", "status", "workspace_id"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str | None] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text)
    context: Mapped[str] = mapped_column(Text, default="")
    template_id: Mapped[str] = mapped_column(String(64))
    effort: Mapped[str | None] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # model, agent, reviews
    repos: Mapped[list[str] | None] = mapped_column(JSON)  # target repo names; None = all
    base_branch: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    sandbox_id: Mapped[str | None] = mapped_column(String(16), index=True)
    branch: Mapped[str | None] = mapped_column(String(255))
    directory: Mapped[str | None] = mapped_column(String(1024))  # OpenCode's directory
    git: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # repo path -> base commit
    rendered_prompt: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    queued_seq: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    review_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    sessions: Mapped[list[TaskSession]] = relationship(
        back_populates="task",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="TaskSession.position",
    )


class TaskSession(Base):
    """An OpenCode session a task runs: the main one or a review (maybe still to launch)."""

    __tablename__ = "task_sessions"
    __table_args__ = (UniqueConstraint("task_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))  # main | review
    template_id: Mapped[str] = mapped_column(String(64))
    effort: Mapped[str | None] = mapped_column(String(64))
    launch: Mapped[str] = mapped_column(String(16), default="now")  # now | after_main
    session_id: Mapped[str | None] = mapped_column(String(64), index=True)
    prompted_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    task: Mapped[Task] = relationship(back_populates="sessions")


class SessionTemplateRecord(Base):
    """A global session template (`scope` "") or a workspace's override (`scope` = its id)."""

    __tablename__ = "session_templates"
    __table_args__ = (UniqueConstraint("scope", "template_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(16), index=True)
    template_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OpencodeConfigFile(Base):
    """An OpenCode config file for every sandbox (`scope` "") or one workspace's (its id)."""

    __tablename__ = "opencode_config_files"
    __table_args__ = (UniqueConstraint("scope", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(16), index=True)
    path: Mapped[str] = mapped_column(String(255))  # "~/.config/opencode/opencode.json"
    content: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SandboxOpencode(Base):
    """OpenCode in one sandbox: its server password (encrypted) and readiness."""

    __tablename__ = "sandbox_opencode"

    sandbox_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    password: Mapped[str] = mapped_column(String(255))  # encrypted by the SecretBox
    state: Mapped[str] = mapped_column(String(16), default="starting")  # starting|ready|absent
    version: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SharedCredential(Base):
    """One provider credential a user shares across their sandboxes (entry encrypted)."""

    __tablename__ = "shared_credentials"
    __table_args__ = (UniqueConstraint("user_id", "provider"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(128))  # the key in OpenCode's auth.json
    entry: Mapped[str | None] = mapped_column(Text)  # encrypted JSON; None = removed
    kind: Mapped[str | None] = mapped_column(String(32))  # oauth | api | wellknown
    expires: Mapped[int | None] = mapped_column(BigInteger)  # epoch ms (OAuth)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(32))  # sandbox id or "api"
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AiSettings(Base):
    """A user's choices about AI tasks: whether their credentials are shared (opt-in)."""

    __tablename__ = "ai_settings"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    auth_sync: Mapped[bool | None] = mapped_column()  # None = the configured default
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SandboxAuthState(Base):
    """What the credentials file of one sandbox last held (fingerprints only), so a key
    that disappears there is recognised as a removal."""

    __tablename__ = "sandbox_auth_state"

    sandbox_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    fingerprints: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AttentionRecord(Base):
    """A permission request or question an agent asked, and how it was answered."""

    __tablename__ = "attention_items"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # <sandbox>:<request id>
    sandbox_id: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # permission | question
    session_id: Mapped[str | None] = mapped_column(String(64))
    task_id: Mapped[str | None] = mapped_column(String(16), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(16))  # user id, or None (elsewhere)
    reply: Mapped[str | None] = mapped_column(String(16))


# -- workspaces, prebuilds, dev commands, pause (issue 10) --------------------------------


class Workspace(Base):
    """A project definition (repos, setup, dev commands, ports); secret values live apart."""

    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)  # validated; no secret values
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WorkspaceSecret(Base):
    """One secret value of a workspace (env variable or file content), encrypted."""

    __tablename__ = "workspace_secrets"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(Text)  # encrypted by the SecretBox
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class GitSource(Base):
    """Credentials for cloning private repositories (token, password or key encrypted)."""

    __tablename__ = "git_sources"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # github | https | ssh
    host: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(128))
    secret: Mapped[str] = mapped_column(Text)  # encrypted by the SecretBox
    known_hosts: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Prebuild(Base):
    """One prebuild attempt of a workspace: its volumes, memory snapshot, commits and steps."""

    __tablename__ = "prebuilds"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), index=True)
    trigger: Mapped[str] = mapped_column(String(32))  # manual | created | changed | stale
    digest: Mapped[str] = mapped_column(String(32))  # of the definition parts it depends on
    image: Mapped[str] = mapped_column(String(64))
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_gb: Mapped[int] = mapped_column(Integer)
    disk_volume: Mapped[str | None] = mapped_column(String(64))
    memory_volume: Mapped[str | None] = mapped_column(String(64))
    memory_state: Mapped[str | None] = mapped_column(String(1024))
    memory_token: Mapped[str | None] = mapped_column(String(255))  # encrypted
    vmm: Mapped[str | None] = mapped_column(String(32))
    network: Mapped[str | None] = mapped_column(String(32))
    commits: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # repo path -> commit
    steps: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    stale_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    checked_at: Mapped[datetime | None] = mapped_column()


class SandboxWorkspace(Base):
    """How a workspace sandbox was made: cold, from a disk prebuild or a memory snapshot."""

    __tablename__ = "sandbox_workspaces"

    sandbox_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(16), index=True)
    prebuild_id: Mapped[str | None] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))  # cold | disk | memory
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SandboxDevCommand(Base):
    """A dev command of one sandbox, its URL visibility and whether its route is published."""

    __tablename__ = "sandbox_dev_commands"

    sandbox_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    visibility: Mapped[str] = mapped_column(String(16), default="members")
    published: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SandboxSuspend(Base):
    """A paused sandbox's saved memory: the VM is gone, its state file waits for resume."""

    __tablename__ = "sandbox_suspends"

    sandbox_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    state_file: Mapped[str] = mapped_column(String(1024))
    vmm: Mapped[str] = mapped_column(String(32))
    agent_token: Mapped[str] = mapped_column(String(255))  # encrypted; the guest holds it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
