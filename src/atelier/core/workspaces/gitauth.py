"""Git sources: credentials for private repositories, and how git gets them without keeping them.

A source is a GitHub token, HTTPS credentials (user + password or token) or an SSH key,
stored encrypted and never returned by the API. When a repository is cloned (in a guest
during a prebuild or a cold spawn, or `git ls-remote` on the host for the staleness check),
git receives the credential only for that command: through `GIT_ASKPASS` pointing at a
script that prints environment variables, or `GIT_SSH_COMMAND` with a key file in tmpfs that
is removed afterwards. Nothing is put in a URL, an argv, `.git/config` or on a disk.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from atelier.errors import ValidationError

KINDS = ("github", "https", "ssh")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.-]{1,253}(?::\d{1,5})?$")

# Prints the username for git's "Username for …" prompt and the password otherwise.
ASKPASS_SCRIPT = """#!/bin/sh
case "$1" in
  Username*|username*) printf '%s\\n' "$ATELIER_GIT_USERNAME" ;;
  *) printf '%s\\n' "$ATELIER_GIT_PASSWORD" ;;
esac
"""


@dataclass(frozen=True)
class GitCredential:
    """A decrypted git source, for one clone or ls-remote."""

    source_id: str
    name: str
    kind: str
    secret: str = field(repr=False)
    host: str | None = None
    username: str | None = None
    known_hosts: str | None = None

    def covers(self, url: str) -> bool:
        """Whether this credential may be sent to the host of `url`."""
        return self.host is None or url_host(url) == self.host.lower()


@dataclass(frozen=True)
class GitAuth:
    """What one git command needs: environment, files to write first (and remove after)."""

    env: dict[str, str] = field(default_factory=dict, repr=False)
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict, repr=False)
    redact: tuple[str, ...] = field(default=(), repr=False)


def url_host(url: str) -> str:
    """The host (with port) a git URL points at: https/git/ssh URLs and `user@host:path`."""
    if "://" in url:
        return (urlsplit(url).netloc.rsplit("@", 1)[-1]).lower()
    return url.split("@", 1)[-1].split(":", 1)[0].lower()


def git_auth(credential: GitCredential | None, directory: str) -> GitAuth:
    """Environment and files giving git `credential` for one command.

    `directory` is a private, memory-backed directory (tmpfs in a guest, the run directory
    on the host) where the askpass script or key file is written; the caller removes it.
    """
    base = {"GIT_TERMINAL_PROMPT": "0"}
    if credential is None:
        return GitAuth(base)
    if credential.kind == "ssh":
        key = f"{directory}/key"
        known = f"{directory}/known_hosts"
        files = {key: ((credential.secret.strip() + "\n").encode(), 0o600)}
        checking = "accept-new"
        if credential.known_hosts:
            files[known] = ((credential.known_hosts.strip() + "\n").encode(), 0o600)
            checking = "yes"
        command = shlex.join([
            "ssh", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={known}", "-o", f"StrictHostKeyChecking={checking}",
        ])  # fmt: skip
        return GitAuth({**base, "GIT_SSH_COMMAND": command}, files, (credential.secret,))
    askpass = f"{directory}/askpass"
    username = credential.username or ("x-access-token" if credential.kind == "github" else "git")
    env = {
        **base,
        "GIT_ASKPASS": askpass,
        "ATELIER_GIT_USERNAME": username,
        "ATELIER_GIT_PASSWORD": credential.secret,
    }
    return GitAuth(env, {askpass: (ASKPASS_SCRIPT.encode(), 0o700)}, (credential.secret,))


def private_dir(root: str) -> str:
    """A fresh, unguessable directory name under `root` for one command's credentials."""
    return f"{root}/{secrets.token_hex(8)}"


def check_source(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validate git-source fields (name, kind, host, username, secret, knownHosts)."""
    name = data.get("name")
    if (creating or name is not None) and (not isinstance(name, str) or not _NAME_RE.match(name)):
        raise ValidationError(
            f"name {name!r}: use 1-64 letters, digits, '.', '_' or '-'", field="name"
        )
    kind = data.get("kind")
    if (creating or kind is not None) and kind not in KINDS:
        raise ValidationError(f"kind {kind!r}: use {', '.join(KINDS)}", field="kind")
    host = data.get("host")
    if host is not None and (not isinstance(host, str) or not _HOST_RE.match(host)):
        raise ValidationError(
            f"host {host!r} is not a host name (with optional :port)", field="host"
        )
    secret = data.get("secret")
    if creating and not secret:
        raise ValidationError(
            "secret is required: a token, a password or an SSH private key", field="secret"
        )
    if secret is not None and (not isinstance(secret, str) or len(secret) > 16384):
        raise ValidationError("secret must be text of at most 16384 characters", field="secret")
    if kind == "ssh" and secret and "PRIVATE KEY" not in secret:
        raise ValidationError(
            "an ssh source needs an OpenSSH private key (-----BEGIN … PRIVATE KEY-----)",
            field="secret",
        )
    return data
