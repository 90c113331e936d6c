"""Sandboxes on the wire (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from atelier.api.schemas.base import Camel, CamelOut
from atelier.core.sandboxes import SandboxView


class SandboxCreate(Camel):
    image: str | None = Field(
        None, max_length=39, description="built image; default images.default_image"
    )
    workspace_id: str | None = Field(None, max_length=16)
    name: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
    vcpus: int | None = Field(None, ge=1, le=64)
    memory_mb: int | None = Field(None, ge=128, le=262144)
    disk_gb: int | None = Field(None, ge=1, le=4096)


class SandboxOut(CamelOut):
    id: str
    name: str | None
    owner: str
    members: list[str]
    image: str
    workspace_id: str | None
    status: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    error: dict[str, Any] | None
    queue_position: int | None
    network: dict[str, Any] | None
    steps: list[dict[str, Any]]

    @classmethod
    def of(cls, view: SandboxView) -> SandboxOut:
        return cls(**view.to_dict())


class ExecRequest(Camel):
    argv: list[str] | None = Field(None, min_length=1, description="program and arguments")
    command: str | None = Field(None, min_length=1, description="a shell command line")
    cwd: str | None = None
    env: dict[str, str] | None = None
    user: str | None = Field(None, description="guest user (default dev when it exists, else root)")
    timeout_s: float | None = Field(None, gt=0, le=86400)
    stdin: str | None = Field(None, description="text written to stdin, then closed")
    stream: bool = Field(False, description="stream output as NDJSON lines")
    keep_background: bool = Field(
        False, description="let processes the command starts in the background outlive it"
    )

    @model_validator(mode="after")
    def _one_program(self) -> ExecRequest:
        if (self.argv is None) == (self.command is None):
            raise ValueError("give exactly one of argv or command")
        return self


class ExecResponse(Camel):
    exit_code: int | None
    signal: int | None
    timed_out: bool
    stdout: str
    stderr: str
    duration_s: float


class MemberAdd(Camel):
    username: str = Field(min_length=1, max_length=64)


class FileEntry(Camel):
    name: str
    type: str
    size: int
    mode: int
    mtime: float
