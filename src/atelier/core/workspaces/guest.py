"""Workspace work inside a guest: clone repos, run init commands, install env and secrets.

Every command is an argv list run through the agent (never a shell string built from
input); init commands are the user's own shell text, run as `dev` with a login shell.
Secrets go to tmpfs only (`/run/atelier-secrets`): env values in a shell-quoted file that
login shells and dev commands source, file secrets as files there with a symlink at the
requested path. Git credentials exist only for the clone command (see `gitauth`).
"""

from __future__ import annotations

import codecs
import json
import posixpath
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from atelier.core.workspaces.gitauth import GitAuth, GitCredential, git_auth, private_dir
from atelier.core.workspaces.model import (
    GUEST_HOME,
    WORKSPACE_ROOT,
    DevCommand,
    FileSecretDecl,
    InitCommand,
    RepoSpec,
    WorkspaceSpec,
)
from atelier.errors import AtelierError
from atelier.runtime.agent.client import AgentClient

SECRETS_DIR = "/run/atelier-secrets"
ENV_FILE = f"{SECRETS_DIR}/env"
GIT_DIR = "/run/atelier-git"
PROFILE_HOOK = "/etc/profile.d/atelier-workspace.sh"
OPENCODE_CONFIG = f"{GUEST_HOME}/.config/opencode/opencode.json"
_HOOK = f"""# Written by Atelier. The workspace environment and secrets live in tmpfs, not on disk.
if [ -r {ENV_FILE} ]; then set -a; . {ENV_FILE}; set +a; fi
"""
# Dev commands source the same file, then run the user's command line.
DEV_WRAPPER = f'set -a; [ -r {ENV_FILE} ] && . {ENV_FILE}; set +a; exec /bin/sh -c "$1"'


class LogSink(Protocol):
    """Where command output goes (a prebuild's log)."""

    def write(self, text: str) -> None: ...


class TailLog:
    """Keeps the last `limit` characters (for error messages of cold spawns)."""

    def __init__(self, limit: int = 2000) -> None:
        self.limit = limit
        self.text = ""

    def write(self, text: str) -> None:
        self.text = (self.text + text)[-self.limit :]


class SetupFailed(AtelierError):
    """A clone or init command failed in the guest; the message has its output's tail."""

    code = "workspace_setup_failed"
    status = 500


@dataclass(frozen=True)
class StepStatus:
    """Progress of one setup step (a clone or an init command) for logs and events."""

    name: str
    status: str  # running | ok | failed
    exit_code: int | None = None
    duration_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "exitCode": self.exit_code,
                "durationS": self.duration_s}  # fmt: skip


StepCallback = Callable[[StepStatus], Any]


async def _stream(client: AgentClient, log: LogSink, argv: list[str] | None = None,
                  **kw: Any) -> int | None:  # fmt: skip
    process = await client.exec_stream(argv, **kw)
    decoders = {
        name: codecs.getincrementaldecoder("utf-8")("replace") for name in ("stdout", "stderr")
    }
    async for name, data in process:
        log.write(decoders[name].decode(data))
    result = await process.wait()
    if result.timed_out:
        log.write(f"\n[timed out after {kw.get('timeout')} s]\n")
    return result.exit_code if result.signal is None else 128 + result.signal


async def _write_files(
    client: AgentClient, directory: str, files: dict[str, tuple[bytes, int]]
) -> None:
    await client.mkdir(directory, mode=0o700, owner="dev")
    for path, (content, mode) in files.items():
        await client.write_file(path, content, mode=mode, owner="dev")


async def clone_repos(
    client: AgentClient,
    repos: tuple[RepoSpec, ...],
    auth_for: Callable[[RepoSpec, str], GitAuth],
    log: LogSink,
    on_step: StepCallback | None = None,
) -> dict[str, str]:
    """Clone every repo as `dev` under the workspace root; returns {path: commit}."""
    await client.mkdir(WORKSPACE_ROOT, owner="dev")
    commits: dict[str, str] = {}
    for repo in repos:
        step = f"clone {repo.path}"
        _notify(on_step, StepStatus(step, "running"))
        started = time.monotonic()
        directory = private_dir(GIT_DIR)
        auth = auth_for(repo, directory)
        argv = ["git", "-c", "credential.helper=", "clone"]
        argv += ["--branch", repo.branch] if repo.branch else []
        argv += ["--depth", str(repo.depth), "--no-single-branch"] if repo.depth else []
        argv += ["--", repo.url, repo.guest_path]
        log.write(
            f"$ git clone {repo.url} {repo.path}"
            + (f" ({repo.branch})" if repo.branch else "")
            + "\n"
        )
        await client.mkdir(GIT_DIR, mode=0o755)
        try:
            if auth.files:
                await _write_files(client, directory, auth.files)
            await client.mkdir(posixpath.dirname(repo.guest_path), owner="dev")
            code = await _stream(
                client, log, argv, cwd=WORKSPACE_ROOT, env=auth.env, user="dev", timeout=1800
            )
        finally:
            await client.remove(directory, recursive=True, missing_ok=True)
        elapsed = round(time.monotonic() - started, 2)
        _notify(on_step, StepStatus(step, "ok" if code == 0 else "failed", code, elapsed))
        if code != 0:
            raise SetupFailed(
                f"cloning {repo.url} into {repo.path} failed (exit {code})",
                hint="check the URL, the branch and the git source's credentials",
                field="repos",
            )
        commits[repo.path] = await head_commit(client, repo.guest_path)
    return commits


async def head_commit(client: AgentClient, path: str) -> str:
    """The commit checked out at `path`."""
    done = await client.exec(["git", "-C", path, "rev-parse", "HEAD"], user="dev", timeout=60)
    if done.exit_code != 0:
        raise SetupFailed(f"git rev-parse in {path} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode().strip()


async def run_init(
    client: AgentClient,
    commands: tuple[InitCommand, ...],
    env: dict[str, str],
    log: LogSink,
    on_step: StepCallback | None = None,
) -> None:
    """Run the init commands in order as `dev` (login shell); stop at the first failure."""
    await client.mkdir(WORKSPACE_ROOT, owner="dev")
    for command in commands:
        _notify(on_step, StepStatus(command.name, "running"))
        started = time.monotonic()
        log.write(f"$ {command.command}\n")
        code = await _stream(
            client, log, shell=command.command, login=True, cwd=command.cwd, env=env or None,
            user="dev", timeout=command.timeout_s,
        )  # fmt: skip
        elapsed = round(time.monotonic() - started, 2)
        _notify(on_step, StepStatus(command.name, "ok" if code == 0 else "failed", code, elapsed))
        if code != 0:
            raise SetupFailed(
                f"init command {command.name!r} failed (exit {code})",
                hint="see the prebuild log: atelier workspace logs <workspace>",
                field="init",
            )


async def setup_workspace(
    client: AgentClient,
    spec: WorkspaceSpec,
    credentials: dict[str, GitCredential | None],
    log: LogSink,
    on_step: StepCallback | None = None,
) -> dict[str, str]:
    """Clone the repos (with their credentials, by repo path), then run the init commands.

    Init commands see the workspace's plain env but never its secrets: what they leave on
    the disk ends up in a prebuild. Returns {repo path: commit}.
    """

    def auth_for(repo: RepoSpec, directory: str) -> GitAuth:
        return git_auth(credentials.get(repo.path), directory)

    commits = await clone_repos(client, spec.repos, auth_for, log, on_step)
    await run_init(client, spec.init, spec.env, log, on_step)
    return commits


def env_file(values: dict[str, str]) -> str:
    """`NAME='value'` lines a POSIX shell sources safely (values are never expanded)."""
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in sorted(values.items()))


async def install_environment(
    client: AgentClient,
    env: dict[str, str],
    files: list[tuple[FileSecretDecl, str]],
) -> None:
    """Plain env and secret values into tmpfs; the profile hook and file-secret links on disk."""
    await client.mkdir(SECRETS_DIR, mode=0o700, owner="dev")
    await client.write_file(ENV_FILE, env_file(env).encode(), mode=0o600, owner="dev")
    await client.write_file(PROFILE_HOOK, _HOOK.encode(), mode=0o644, owner="root")
    for decl, value in files:
        stored = f"{SECRETS_DIR}/file-{decl.name}"
        await client.write_file(stored, value.encode(), mode=decl.mode, owner="dev")
        user = "dev" if decl.path.startswith(GUEST_HOME + "/") else "root"
        await client.mkdir(posixpath.dirname(decl.path), owner=user)
        done = await client.exec(["ln", "-sfn", stored, decl.path], user=user, timeout=30)
        if done.exit_code != 0:
            raise SetupFailed(
                f"cannot link file secret {decl.name!r} at {decl.path}: "
                f"{done.stderr.decode(errors='replace').strip()}",
                field="secrets.files",
            )


async def write_opencode(client: AgentClient, config: dict[str, Any]) -> None:
    """The workspace's OpenCode configuration for the dev user."""
    data = json.dumps(config, indent=2).encode()
    await client.write_file(OPENCODE_CONFIG, data, mode=0o644, owner="dev")


def service_name(dev_name: str) -> str:
    """The guest service that runs a dev command."""
    return f"dev-{dev_name}"


def service_spec(dev: DevCommand) -> dict[str, Any]:
    """The agent service definition of a dev command (sources the tmpfs env first)."""
    spec: dict[str, Any] = {
        "description": f"dev command {dev.name}",
        "argv": ["/bin/sh", "-c", DEV_WRAPPER, "atelier-dev", dev.command],
        "user": "dev",
        "cwd": dev.cwd,
        "env": dict(dev.env),
        "restart": "on-failure",
        "stop_timeout_s": 10,
    }
    if dev.cwd.startswith(GUEST_HOME + "/"):
        spec["dirs"] = [dev.cwd]
    if dev.port is not None:
        spec["port"] = dev.port
    return spec


def log_path(dev_name: str) -> str:
    """Where the agent writes a dev command's output."""
    return f"/var/log/atelier/{service_name(dev_name)}.log"


def _notify(callback: StepCallback | None, status: StepStatus) -> None:
    if callback is not None:
        callback(status)
