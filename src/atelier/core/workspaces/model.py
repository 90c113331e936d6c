"""The workspace definition: what a project needs (repos, setup, dev servers, secrets).

The frozen `WorkspaceSpec` and its parts, as `validate.parse_definition` produces them.
Secret *values* never appear here: a definition only declares secret names (env) and file
secrets (name, path, mode); values are written through the write-only secrets API.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from atelier.errors import ValidationError

WORKSPACE_ROOT = "/home/dev/workspace"
GUEST_HOME = "/home/dev"
# Guest ports Atelier itself serves in every sandbox; a workspace may not claim them.
PLATFORM_PORTS: dict[int, str] = {
    22: "sshd (the SSH gateway's upstream)",
    4096: "OpenCode",
    6080: "noVNC (the sandbox browser)",
    13337: "code-server (VS Code)",
}
VISIBILITIES = ("private", "members", "public")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition: which field, and what is allowed."""

    field: str
    message: str
    severity: str = "error"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "severity": self.severity}


class DefinitionInvalid(ValidationError):
    """A workspace definition has problems; `problems` lists all of them."""

    code = "workspace_invalid"

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"{first.field}: {first.message}{more}",
            field=first.field,
            hint="fix the fields named; `atelier workspace apply --dry-run` shows them all",
        )
        self.problems = problems

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = dict(super().to_dict())
        body["problems"] = [p.to_dict() for p in self.problems]
        return body


@dataclass(frozen=True)
class Resources:
    vcpus: int | None = None
    memory_mb: int | None = None
    disk_gb: int | None = None


@dataclass(frozen=True)
class RepoSpec:
    url: str
    path: str  # relative to WORKSPACE_ROOT
    branch: str | None = None  # None: the remote's default branch
    source: str | None = None  # git source id or name (credentials)
    depth: int | None = None

    @property
    def guest_path(self) -> str:
        return posixpath.join(WORKSPACE_ROOT, self.path)


@dataclass(frozen=True)
class InitCommand:
    name: str
    command: str
    cwd: str = WORKSPACE_ROOT  # absolute in the guest
    timeout_s: float = 600.0


@dataclass(frozen=True)
class DevCommand:
    name: str
    command: str
    cwd: str = WORKSPACE_ROOT
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    autostart: bool = False
    visibility: str = "members"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "command": self.command, "cwd": self.cwd, "port": self.port,
            "env": dict(self.env), "autostart": self.autostart, "visibility": self.visibility,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DevCommand:
        return cls(
            name=data["name"], command=data["command"], cwd=data.get("cwd") or WORKSPACE_ROOT,
            port=data.get("port"), env=dict(data.get("env") or {}),
            autostart=bool(data.get("autostart")), visibility=data.get("visibility", "members"),
        )  # fmt: skip


@dataclass(frozen=True)
class FileSecretDecl:
    name: str
    path: str  # absolute in the guest (`~/` expanded to /home/dev/)
    mode: int = 0o600


@dataclass(frozen=True)
class PrebuildPolicy:
    auto: bool = True  # build on create/change and rebuild when a branch moves
    memory: bool = True  # also keep a memory snapshot when the VMM can


@dataclass(frozen=True)
class WorkspaceSpec:
    """A validated workspace definition."""

    name: str
    image: str | None = None
    description: str = ""
    resources: Resources = Resources()
    repos: tuple[RepoSpec, ...] = ()
    init: tuple[InitCommand, ...] = ()
    dev: tuple[DevCommand, ...] = ()
    ports: tuple[int, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    env_secrets: tuple[str, ...] = ()
    file_secrets: tuple[FileSecretDecl, ...] = ()
    opencode: dict[str, Any] | None = None
    prebuild: PrebuildPolicy = PrebuildPolicy()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def guest_ports(self) -> tuple[int, ...]:
        """Every guest port sandboxes must expose: the declared ports and dev ports."""
        found = {*self.ports, *(d.port for d in self.dev if d.port is not None)}
        return tuple(sorted(found))

    def build_digest(self) -> str:
        """A digest of what a prebuild depends on (image, resources, repos, init, env)."""
        keys = ("image", "resources", "repos", "init", "env")
        relevant = {k: self.raw.get(k) for k in keys}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def expand_home(path: str) -> str:
    """`~/x` → `/home/dev/x`; other paths unchanged."""
    if path == "~":
        return GUEST_HOME
    return GUEST_HOME + path[1:] if path.startswith("~/") else path
