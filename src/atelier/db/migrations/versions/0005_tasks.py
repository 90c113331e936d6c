"""tasks: AI tasks, their sessions, templates, OpenCode config, shared credentials, attention

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import atelier.db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attention_items",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("sandbox_id", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.String(length=16), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", atelier.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", atelier.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=16), nullable=True),
        sa.Column("reply", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("attention_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attention_items_sandbox_id"), ["sandbox_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_attention_items_task_id"), ["task_id"], unique=False)

    op.create_table(
        "opencode_config_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=16), nullable=True),
        sa.Column("updated_at", atelier.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope", "path"),
    )
    with op.batch_alter_table("opencode_config_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_opencode_config_files_scope"), ["scope"], unique=False)

    op.create_table(
        "sandbox_auth_state",
        sa.Column("sandbox_id", sa.String(length=16), nullable=False),
        sa.Column("fingerprints", sa.JSON(), nullable=False),
        sa.Column("updated_at", atelier.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sandbox_id"),
    )
    op.create_table(
        "sandbox_opencode",
        sa.Column("sandbox_id", sa.String(length=16), nullable=False),
        sa.Column("password", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("updated_at", atelier.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sandbox_id"),
    )
    op.create_table(
        "session_templates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=16), nullable=True),
        sa.Column("updated_at", atelier.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope", "template_id"),
    )
    with op.batch_alter_table("session_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_templates_scope"), ["scope"], unique=False)

    op.create_table(
        "ai_settings",
        sa.Column("user_id", sa.String(length=16), nullable=False),
        sa.Column("auth_sync", sa.Boolean(), nullable=True),
        sa.Column("updated_at", atelier.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "shared_credentials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=128), nullable=False),
        sa.Column("entry", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("expires", sa.BigInteger(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("updated_at", atelier.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "provider"),
    )
    with op.batch_alter_table("shared_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shared_credentials_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "tasks",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=16), nullable=False),
        sa.Column("workspace_id", sa.String(length=16), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("effort", sa.String(length=64), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("repos", sa.JSON(), nullable=True),
        sa.Column("base_branch", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sandbox_id", sa.String(length=16), nullable=True),
        sa.Column("branch", sa.String(length=255), nullable=True),
        sa.Column("directory", sa.String(length=1024), nullable=True),
        sa.Column("git", sa.JSON(), nullable=True),
        sa.Column("rendered_prompt", sa.Text(), nullable=True),
        sa.Column("progress", sa.JSON(), nullable=True),
        sa.Column("queued_seq", sa.Integer(), nullable=True),
        sa.Column("created_at", atelier.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", atelier.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", atelier.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("review_at", atelier.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", atelier.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_sandbox_id"), ["sandbox_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_status"), ["status"], unique=False)
        batch_op.create_index("ix_tasks_status_workspace", ["status", "workspace_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "task_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("effort", sa.String(length=64), nullable=True),
        sa.Column("launch", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("prompted_at", atelier.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", atelier.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "position"),
    )
    with op.batch_alter_table("task_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_task_sessions_session_id"), ["session_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_task_sessions_task_id"), ["task_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_sessions_task_id"))
        batch_op.drop_index(batch_op.f("ix_task_sessions_session_id"))

    op.drop_table("task_sessions")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_workspace_id"))
        batch_op.drop_index("ix_tasks_status_workspace")
        batch_op.drop_index(batch_op.f("ix_tasks_status"))
        batch_op.drop_index(batch_op.f("ix_tasks_sandbox_id"))
        batch_op.drop_index(batch_op.f("ix_tasks_owner_id"))

    op.drop_table("tasks")
    with op.batch_alter_table("shared_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shared_credentials_user_id"))

    op.drop_table("shared_credentials")
    op.drop_table("ai_settings")
    with op.batch_alter_table("session_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_templates_scope"))

    op.drop_table("session_templates")
    op.drop_table("sandbox_opencode")
    op.drop_table("sandbox_auth_state")
    with op.batch_alter_table("opencode_config_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opencode_config_files_scope"))

    op.drop_table("opencode_config_files")
    with op.batch_alter_table("attention_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attention_items_task_id"))
        batch_op.drop_index(batch_op.f("ix_attention_items_sandbox_id"))

    op.drop_table("attention_items")
