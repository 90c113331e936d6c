"""workspaces: definitions, secrets, git sources, prebuilds, dev commands, paused sandboxes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import atelier.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]  # alembic columns are untyped
    return sa.Column(name, atelier.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id", "name"),
    )
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workspaces_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "workspace_secrets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        _when("updated_at"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name"),
    )
    with op.batch_alter_table("workspace_secrets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workspace_secrets_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "git_sources",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("username", sa.String(length=128), nullable=True),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("known_hosts", sa.Text(), nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id", "name"),
    )
    with op.batch_alter_table("git_sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_git_sources_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "prebuilds",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("workspace_id", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("image", sa.String(length=64), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("disk_volume", sa.String(length=64), nullable=True),
        sa.Column("memory_volume", sa.String(length=64), nullable=True),
        sa.Column("memory_state", sa.String(length=1024), nullable=True),
        sa.Column("memory_token", sa.String(length=255), nullable=True),
        sa.Column("vmm", sa.String(length=32), nullable=True),
        sa.Column("network", sa.String(length=32), nullable=True),
        sa.Column("commits", sa.JSON(), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("stale_reason", sa.Text(), nullable=True),
        _when("created_at"),
        _when("started_at", nullable=True),
        _when("finished_at", nullable=True),
        _when("checked_at", nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("prebuilds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prebuilds_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_prebuilds_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "sandbox_workspaces",
        sa.Column("sandbox_id", sa.String(length=16), nullable=False),
        sa.Column("workspace_id", sa.String(length=16), nullable=False),
        sa.Column("prebuild_id", sa.String(length=16), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("sandbox_id"),
    )
    with op.batch_alter_table("sandbox_workspaces", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sandbox_workspaces_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "sandbox_dev_commands",
        sa.Column("sandbox_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("sandbox_id", "name"),
    )

    op.create_table(
        "sandbox_suspends",
        sa.Column("sandbox_id", sa.String(length=16), nullable=False),
        sa.Column("state_file", sa.String(length=1024), nullable=False),
        sa.Column("vmm", sa.String(length=32), nullable=False),
        sa.Column("agent_token", sa.String(length=255), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("sandbox_id"),
    )


def downgrade() -> None:
    op.drop_table("sandbox_suspends")
    op.drop_table("sandbox_dev_commands")
    with op.batch_alter_table("sandbox_workspaces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_workspaces_workspace_id"))
    op.drop_table("sandbox_workspaces")
    with op.batch_alter_table("prebuilds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prebuilds_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_prebuilds_status"))
    op.drop_table("prebuilds")
    with op.batch_alter_table("git_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_git_sources_owner_id"))
    op.drop_table("git_sources")
    with op.batch_alter_table("workspace_secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workspace_secrets_workspace_id"))
    op.drop_table("workspace_secrets")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workspaces_owner_id"))
    op.drop_table("workspaces")
