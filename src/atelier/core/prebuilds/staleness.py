"""Is a prebuild still current? Its recorded commits against the remote branches, and its
definition digest against the workspace's.

The remote is asked from the host with `git ls-remote` (credentials through `GIT_ASKPASS`
or `GIT_SSH_COMMAND`, in a 0700 directory removed afterwards; never in argv or a URL).
Under the `user` network driver a guest reaches host services at `user_services_addr`,
which is the host's loopback: such URLs are asked at 127.0.0.1 on the host.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from atelier.core.workspaces.gitauth import GitCredential, git_auth
from atelier.core.workspaces.model import WorkspaceSpec
from atelier.errors import AtelierError
from atelier.runtime.host import proc


@dataclass(frozen=True)
class Staleness:
    """The outcome of one check: stale or not, why, and what the remotes point at now."""

    stale: bool
    reasons: list[str] = field(default_factory=list)
    remote: dict[str, str] = field(default_factory=dict)  # repo path -> commit
    unknown: list[str] = field(default_factory=list)  # repos that could not be asked

    def to_dict(self) -> dict[str, Any]:
        return {"stale": self.stale, "reasons": self.reasons, "remote": self.remote,
                "unknown": self.unknown}  # fmt: skip


def host_view(url: str, guest_services_addr: str | None) -> str:
    """The URL as the host reaches it: the user driver's services address is loopback."""
    if guest_services_addr is None or "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.hostname != guest_services_addr:
        return url
    netloc = parts.netloc.replace(guest_services_addr, "127.0.0.1", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def remote_commit(
    url: str, branch: str | None, credential: GitCredential | None, scratch: Path
) -> str:
    """The commit `branch` (or the remote's HEAD) points at; AtelierError when unreachable."""
    directory = scratch / secrets.token_hex(8)
    directory.mkdir(parents=True, mode=0o700)
    try:
        auth = git_auth(credential, str(directory))
        for path, (content, mode) in auth.files.items():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
        ref = f"refs/heads/{branch}" if branch else "HEAD"
        done = await proc.run(
            ["git", "-c", "credential.helper=", "ls-remote", "--", url, ref],
            timeout=60, env=auth.env, secrets=auth.redact, check=False,
        )  # fmt: skip
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(directory)
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise AtelierError(f"git ls-remote {url} failed: {' '.join(tail) or done.returncode}")
    for line in done.text.splitlines():
        commit, _, name = line.partition("\t")
        if name == ref:
            return commit.strip()
    raise AtelierError(f"{url} has no {ref}")


async def check(
    spec: WorkspaceSpec,
    digest: str,
    commits: dict[str, str],
    credentials: dict[str, GitCredential | None],
    scratch: Path,
    guest_services_addr: str | None = None,
) -> Staleness:
    """Compare a prebuild (its `digest` and `commits`) with the definition and the remotes."""
    reasons: list[str] = []
    if spec.build_digest() != digest:
        reasons.append("the workspace definition changed since the prebuild")
    remote: dict[str, str] = {}
    unknown: list[str] = []
    for repo in spec.repos:
        try:
            now = await remote_commit(
                host_view(repo.url, guest_services_addr), repo.branch,
                credentials.get(repo.path), scratch,
            )  # fmt: skip
        except AtelierError as exc:
            unknown.append(f"{repo.path}: {exc.message}")
            continue
        remote[repo.path] = now
        before = commits.get(repo.path)
        if before != now:
            where = repo.branch or "HEAD"
            reasons.append(
                f"{repo.path}: {where} moved from {(before or 'nothing')[:12]} to {now[:12]}"
            )
    return Staleness(bool(reasons), reasons, remote, unknown)
