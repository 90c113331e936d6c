"""Validation of workspace definitions: every problem, with the path of its field.

`parse_definition(data)` turns the JSON/YAML form (camelCase keys) into a `WorkspaceSpec`
or raises `DefinitionInvalid` listing every `Problem` (`dev[1].port: port 22 is used by the
platform (sshd …)`). Pure: no database, runtime or guest access.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from atelier.core.workspaces.model import (
    PLATFORM_PORTS,
    VISIBILITIES,
    WORKSPACE_ROOT,
    DefinitionInvalid,
    DevCommand,
    FileSecretDecl,
    InitCommand,
    PrebuildPolicy,
    Problem,
    RepoSpec,
    Resources,
    WorkspaceSpec,
    expand_home,
)
from atelier.runtime.host import names

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._+-]+$")
_BRANCH_RE = re.compile(r"^[A-Za-z0-9._/+-]+$")
_URL_RE = re.compile(
    r"^(?:(?:https?|git|ssh)://[^\s/]+(?::\d+)?/\S+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:\S+)$"
)
_RESERVED_ENV = {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD"}


def parse_definition(data: Any) -> WorkspaceSpec:
    """Validate `data` (a decoded JSON/YAML mapping); DefinitionInvalid lists every problem."""
    checker = _Checker()
    spec = checker.definition(data)
    if checker.problems or spec is None:
        raise DefinitionInvalid(checker.problems or [Problem("", "the definition is empty")])
    return spec


def problems_of(data: Any) -> list[Problem]:
    """Every problem of a definition (empty when it can be saved)."""
    try:
        parse_definition(data)
    except DefinitionInvalid as exc:
        return exc.problems
    return []


_TOP = {
    "name", "description", "image", "resources", "repos", "init", "dev", "ports", "env",
    "secrets", "opencode", "prebuild",
}  # fmt: skip


class _Checker:
    """Walks a definition, collecting problems with field paths."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def bad(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def _map(self, value: Any, path: str, allowed: set[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad(path, f"must be a mapping, got {type(value).__name__}")
            return {}
        for key in sorted(set(value) - allowed, key=str):
            self.bad(f"{path}.{key}" if path else str(key),
                     f"unknown field; allowed: {', '.join(sorted(allowed))}")  # fmt: skip
        return value

    def _int(self, value: Any, path: str, low: int, high: int) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(path, f"must be a whole number, got {value!r}")
            return None
        if not low <= value <= high:
            self.bad(path, f"{value} is out of range: allowed {low}..{high}")
            return None
        return value

    def _text(self, value: Any, path: str, *, required: bool = False, limit: int = 4096) -> str:
        if value is None:
            if required:
                self.bad(path, "is required")
            return ""
        if not isinstance(value, str):
            self.bad(path, f"must be text, got {type(value).__name__}")
            return ""
        if required and not value.strip():
            self.bad(path, "must not be empty")
        if len(value) > limit:
            self.bad(path, f"is {len(value)} characters long: at most {limit}")
        return value

    def definition(self, data: Any) -> WorkspaceSpec | None:
        if not isinstance(data, dict):
            self.bad("", "the definition must be a mapping (JSON object / YAML mapping)")
            return None
        self._map(data, "", _TOP)
        name = self._text(data.get("name"), "name", required=True, limit=64)
        if name and not _NAME_RE.match(name):
            self.bad("name", f"{name!r}: use letters, digits, '.', '_' or '-' (max 64)")
        image = data.get("image")
        if image is not None:
            image = self._text(image, "image")
            try:
                names.check_image_name(image)
            except ValueError as exc:
                self.bad("image", str(exc))
        res = self._map(data.get("resources"), "resources", {"vcpus", "memoryMb", "diskGb"})
        resources = Resources(
            self._int(res.get("vcpus"), "resources.vcpus", 1, 64),
            self._int(res.get("memoryMb"), "resources.memoryMb", 128, 262144),
            self._int(res.get("diskGb"), "resources.diskGb", 1, 4096),
        )
        repos = self.repos(data.get("repos"))
        init = self.init(data.get("init"))
        dev = self.dev(data.get("dev"))
        ports = self.ports(data.get("ports"), "ports")
        env = self.env(data.get("env"), "env")
        env_secrets, file_secrets = self.secrets(data.get("secrets"))
        clash = set(env) & set(env_secrets)
        for key in sorted(clash):
            self.bad(f"secrets.env.{key}", "is also a plain env variable; keep one")
        opencode = data.get("opencode")
        if opencode is not None and not isinstance(opencode, dict):
            self.bad("opencode", "must be a mapping (the opencode.json content)")
            opencode = None
        pol = self._map(data.get("prebuild"), "prebuild", {"auto", "memory"})
        for key in ("auto", "memory"):
            if key in pol and not isinstance(pol[key], bool):
                self.bad(f"prebuild.{key}", "must be true or false")
        return WorkspaceSpec(
            name=name,
            image=image or None,
            description=self._text(data.get("description"), "description", limit=1000),
            resources=resources,
            repos=repos,
            init=init,
            dev=dev,
            ports=ports,
            env=env,
            env_secrets=env_secrets,
            file_secrets=file_secrets,
            opencode=opencode,
            prebuild=PrebuildPolicy(bool(pol.get("auto", True)), bool(pol.get("memory", True))),
            raw=dict(data),
        )

    def _list(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.bad(path, f"must be a list, got {type(value).__name__}")
            return []
        return value

    def repos(self, value: Any) -> tuple[RepoSpec, ...]:
        found: list[RepoSpec] = []
        seen: set[str] = set()
        allowed = {"url", "branch", "path", "source", "depth"}
        for i, item in enumerate(self._list(value, "repos")):
            path = f"repos[{i}]"
            entry = self._map({"url": item} if isinstance(item, str) else item, path, allowed)
            url = self._text(entry.get("url"), f"{path}.url", required=True, limit=2048)
            if url and (not _URL_RE.match(url) or url.startswith("-")):
                self.bad(f"{path}.url", f"{url!r} is not a git URL (https://, http://, git://,"
                         " ssh:// or user@host:path)")  # fmt: skip
            branch = entry.get("branch")
            if branch is not None:
                branch = self._text(branch, f"{path}.branch", limit=255)
                if not _valid_branch(branch):
                    self.bad(f"{path}.branch", f"{branch!r} is not a valid branch name")
            clone_path = entry.get("path") or _repo_dir(url)
            clone_path = self._relative(clone_path, f"{path}.path")
            if clone_path in seen:
                self.bad(f"{path}.path", f"{clone_path!r} is used by another repo")
            seen.add(clone_path)
            source = entry.get("source")
            if source is not None:
                source = self._text(source, f"{path}.source", limit=64) or None
            depth = self._int(entry.get("depth"), f"{path}.depth", 1, 1_000_000)
            found.append(RepoSpec(url, clone_path, branch or None, source, depth))
        return tuple(found)

    def _relative(self, value: Any, path: str) -> str:
        text = self._text(value, path, required=True, limit=255)
        parts = text.strip("/").split("/") if text else []
        if (
            text.startswith("/")
            or not parts
            or any(p in ("", ".", "..") or not _SEGMENT_RE.match(p) for p in parts)
        ):
            self.bad(path, f"{text!r} must be a relative path of plain names"
                     f" (letters, digits, '.', '_', '-') under {WORKSPACE_ROOT}")  # fmt: skip
            return text
        return "/".join(parts)

    def _cwd(self, value: Any, path: str) -> str:
        if value is None:
            return WORKSPACE_ROOT
        text = self._text(value, path, limit=1024)
        if text.startswith(("/", "~")):
            normal = posixpath.normpath(expand_home(text))
            if ".." in text.split("/"):
                self.bad(path, f"{text!r} must not contain '..'")
            return normal
        return posixpath.join(WORKSPACE_ROOT, self._relative(text, path))

    def init(self, value: Any) -> tuple[InitCommand, ...]:
        found: list[InitCommand] = []
        allowed = {"name", "command", "cwd", "timeoutS"}
        for i, item in enumerate(self._list(value, "init")):
            path = f"init[{i}]"
            entry = self._map({"command": item} if isinstance(item, str) else item, path, allowed)
            command = self._text(entry.get("command"), f"{path}.command", required=True)
            name = self._text(entry.get("name"), f"{path}.name", limit=64) or f"init-{i + 1}"
            timeout = entry.get("timeoutS", 600)
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                self.bad(f"{path}.timeoutS", f"must be a number of seconds, got {timeout!r}")
                timeout = 600
            elif not 1 <= timeout <= 7200:
                self.bad(f"{path}.timeoutS", f"{timeout} is out of range: allowed 1..7200")
            cwd = self._cwd(entry.get("cwd"), f"{path}.cwd")
            found.append(InitCommand(name, command, cwd, float(timeout)))
        return tuple(found)

    def dev(self, value: Any) -> tuple[DevCommand, ...]:
        found: list[DevCommand] = []
        seen: set[str] = set()
        allowed = {"name", "command", "cwd", "port", "env", "autostart", "visibility"}
        for i, item in enumerate(self._list(value, "dev")):
            path = f"dev[{i}]"
            entry = self._map(item, path, allowed)
            name = self._text(entry.get("name"), f"{path}.name", required=True, limit=32)
            try:
                names.check_dev_name(name)
            except ValueError as exc:
                if name:
                    self.bad(f"{path}.name", str(exc))
            if name in seen:
                self.bad(f"{path}.name", f"{name!r} is used by another dev command")
            seen.add(name)
            command = self._text(entry.get("command"), f"{path}.command", required=True)
            port = self._port(entry.get("port"), f"{path}.port") if "port" in entry else None
            autostart = entry.get("autostart", False)
            if not isinstance(autostart, bool):
                self.bad(f"{path}.autostart", "must be true or false")
            visibility = entry.get("visibility", "members")
            if visibility not in VISIBILITIES:
                self.bad(f"{path}.visibility", f"{visibility!r}: use {', '.join(VISIBILITIES)}")
            found.append(DevCommand(
                name, command, self._cwd(entry.get("cwd"), f"{path}.cwd"), port,
                self.env(entry.get("env"), f"{path}.env"), autostart is True,
                visibility if visibility in VISIBILITIES else "members",
            ))  # fmt: skip
        return tuple(found)

    def _port(self, value: Any, path: str) -> int | None:
        if value is None:
            return None
        port = self._int(value, path, 1, 65535)
        if port is None:
            return None
        if port in PLATFORM_PORTS:
            self.bad(path, f"port {port} is used by the platform ({PLATFORM_PORTS[port]});"
                     " pick another port")  # fmt: skip
            return None
        if port < 1024:
            self.bad(
                path, f"port {port} is privileged: dev servers run as the dev user; use 1024..65535"
            )
            return None
        return port

    def ports(self, value: Any, path: str) -> tuple[int, ...]:
        found = [self._port(p, f"{path}[{i}]") for i, p in enumerate(self._list(value, path))]
        return tuple(sorted({p for p in found if p is not None}))

    def env(self, value: Any, path: str) -> dict[str, str]:
        found: dict[str, str] = {}
        if value is None:
            return found
        if not isinstance(value, dict):
            self.bad(path, f"must be a mapping of NAME: value, got {type(value).__name__}")
            return found
        for key, item in value.items():
            where = f"{path}.{key}"
            if not isinstance(key, str) or not _ENV_RE.match(key):
                self.bad(
                    where, "must be a variable name: letters, digits and '_', not first a digit"
                )
            elif key in _RESERVED_ENV or key.startswith("ATELIER_"):
                self.bad(where, f"{key} is set by the platform; pick another name")
            elif isinstance(item, bool) or not isinstance(item, (str, int, float)):
                self.bad(where, f"must be text, got {type(item).__name__}")
            else:
                found[key] = str(item)
        return found

    def secrets(self, value: Any) -> tuple[tuple[str, ...], tuple[FileSecretDecl, ...]]:
        data = self._map(value, "secrets", {"env", "files"})
        env_names: list[str] = []
        for i, key in enumerate(self._list(data.get("env"), "secrets.env")):
            where = f"secrets.env[{i}]"
            if not isinstance(key, str) or not _ENV_RE.match(key):
                self.bad(where, "must be a variable name (secret values are write-only:"
                         " set them with PUT /api/workspaces/{id}/secrets/{name})")  # fmt: skip
            elif key in _RESERVED_ENV or key.startswith("ATELIER_"):
                self.bad(where, f"{key} is set by the platform; pick another name")
            elif key in env_names:
                self.bad(where, f"{key} is declared twice")
            else:
                env_names.append(key)
        files: list[FileSecretDecl] = []
        for i, item in enumerate(self._list(data.get("files"), "secrets.files")):
            where = f"secrets.files[{i}]"
            entry = self._map(item, where, {"name", "path", "mode"})
            name = self._text(entry.get("name"), f"{where}.name", required=True, limit=128)
            if name and not _ENV_RE.match(name):
                self.bad(f"{where}.name", "must be letters, digits and '_'")
            if name in env_names or any(f.name == name for f in files):
                self.bad(f"{where}.name", f"{name!r} names another secret")
            path = expand_home(self._text(entry.get("path"), f"{where}.path", required=True))
            if path and (not path.startswith("/") or ".." in path.split("/")):
                self.bad(f"{where}.path", f"{path!r} must be absolute (or start with ~/)"
                         " and must not contain '..'")  # fmt: skip
            mode = _mode(entry.get("mode", 0o600))
            if mode is None:
                self.bad(f"{where}.mode", 'must be an octal mode such as "0600"')
            files.append(FileSecretDecl(name, path, mode or 0o600))
        return tuple(env_names), tuple(files)


def _mode(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o777:
        return value
    if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3}", value):
        return int(value, 8)
    return None


def _valid_branch(name: str) -> bool:
    return bool(
        _BRANCH_RE.match(name)
        and not name.startswith(("-", "/", "."))
        and not name.endswith(("/", ".lock", "."))
        and ".." not in name
        and "//" not in name
        and "@{" not in name
    )


def _repo_dir(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return tail.removesuffix(".git") or "repo"
