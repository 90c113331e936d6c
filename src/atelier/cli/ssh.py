"""`atelier ssh-key add|list|rm`, `atelier ssh <sandbox>` and `atelier ssh-config`.

Keys are managed through the manager's API. `atelier ssh` hands the terminal to OpenSSH
(`ssh -p <port> <sandbox>@<host>`), and `atelier ssh-config` prints one `Host` block per
sandbox for ~/.ssh/config, which VS Code Remote-SSH and JetBrains Gateway list.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import typer
from rich.console import Group
from rich.text import Text

from atelier.cli import output
from atelier.cli.client import ApiClient, connect
from atelier.config import client_settings
from atelier.errors import NotFound, ToolMissing, ValidationError

GROUP = "ssh-key"
app = typer.Typer(help="Your SSH public keys for `ssh <sandbox>@host`.", no_args_is_help=True)

DEFAULT_KEYS = (
    "id_ed25519.pub",
    "id_ecdsa.pub",
    "id_ed25519_sk.pub",
    "id_ecdsa_sk.pub",
    "id_rsa.pub",
)
HOST_PREFIX = "atelier-"

PathArg = Annotated[
    Path | None,
    typer.Argument(help="The .pub file ('-' reads stdin); default: ~/.ssh/id_ed25519.pub etc."),
]
NameOpt = Annotated[str | None, typer.Option("--name", help="Default: the key's comment.")]
DaysOpt = Annotated[
    int | None, typer.Option("--expires-in-days", min=1, max=3650, help="Stop accepting it then.")
]
UntilOpt = Annotated[
    datetime | None, typer.Option("--expires-at", help="Stop accepting it at this time (UTC).")
]


def find_public_key(path: Path | None, home: Path) -> Path:
    """The key file to add: `path`, or the first of the usual ones in ~/.ssh."""
    if path is not None:
        return path
    for name in DEFAULT_KEYS:
        candidate = home / ".ssh" / name
        if candidate.exists():
            return candidate
    raise ValidationError(
        f"no public key found in {home / '.ssh'} (looked for {', '.join(DEFAULT_KEYS)})",
        hint="create one with `ssh-keygen -t ed25519`, or give the .pub file's path",
        field="path",
    )


def read_public_key(path: Path) -> str:
    """The key text; refuses private keys before anything is sent."""
    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    if "PRIVATE KEY" in text:
        raise ValidationError(
            f"{path} is a private key; it is never sent anywhere",
            hint=f"give the public half instead: {path}.pub",
            field="path",
        )
    return text


def expiry(days: int | None, until: datetime | None, now: datetime) -> datetime | None:
    """The expiry time from --expires-in-days or --expires-at (one of them at most)."""
    if days is not None and until is not None:
        raise ValidationError(
            "give --expires-in-days or --expires-at, not both", field="expires_at"
        )
    if days is not None:
        return now + timedelta(days=days)
    if until is not None:
        return until if until.tzinfo else until.replace(tzinfo=UTC)
    return None


@app.command("add")
def add(
    path: PathArg = None,
    name: NameOpt = None,
    expires_in_days: DaysOpt = None,
    expires_at: UntilOpt = None,
    json_output: output.JsonFlag = False,
) -> None:
    """Register a public key so it can log in to your sandboxes through the gateway."""
    output.use_json(json_output)
    key_file = find_public_key(path, Path.home())
    body: dict[str, Any] = {"public_key": read_public_key(key_file), "name": name}
    until = expiry(expires_in_days, expires_at, datetime.now(UTC))
    body["expires_at"] = until.isoformat() if until else None
    with connect() as api:
        key = api.post("/api/ssh-keys", body)
    output.show(key, f"added {key['name']} {key['fingerprint']} ({key['algorithm']})")


@app.command("list")
def list_keys(json_output: output.JsonFlag = False) -> None:
    """Your registered keys, with expiry and last use."""
    output.use_json(json_output)
    with connect() as api:
        keys = api.get("/api/ssh-keys")
    output.show(keys, Group(*(key_line(k) for k in keys)) if keys else "no SSH keys yet")


def key_line(key: dict[str, Any]) -> Text:
    """One key as `ssh-keygen -l` would name it, with expiry and last use (never truncated)."""
    expires = (key["expires_at"] or "never")[:10]
    state = f"expired {expires}" if key["expired"] else f"expires {expires}"
    used = (key["last_used_at"] or "never")[:10]
    text = f"{key['name']}  {key['fingerprint']}  {key['algorithm']}  {state}  last used {used}"
    return Text(text, style="dim" if key["expired"] else "")


@app.command("rm")
def remove(
    key: Annotated[str, typer.Argument(help="The key's id, name or fingerprint.")],
    json_output: output.JsonFlag = False,
) -> None:
    """Remove a key; it stops logging in at once."""
    output.use_json(json_output)
    with connect() as api:
        api.delete(f"/api/ssh-keys/{quote(key, safe='')}")
    output.show({"removed": key}, f"removed {key}")


def gateway_address(api: ApiClient) -> tuple[str, int, dict[str, Any]]:
    """(host, port, gateway info) for ssh: the configured public host or the API's host."""
    info = api.get("/api/ssh/gateway")
    host = info.get("host") or urlsplit(api.url).hostname or "127.0.0.1"
    return host, int(info["port"]), info


def ssh_argv(sandbox: str, host: str, port: int, extra: Sequence[str] = ()) -> list[str]:
    """OpenSSH's argv; extra options and the remote command go after the destination."""
    return ["ssh", "-p", str(port), f"{sandbox}@{host}", *extra]


def ssh(
    ctx: typer.Context,
    sandbox: Annotated[str, typer.Argument(help="The sandbox id (or name).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the command only.")] = False,
) -> None:
    """Open a shell in a sandbox with OpenSSH; arguments after `--` go to ssh."""
    with connect() as api:
        host, port, _info = gateway_address(api)
    argv = ssh_argv(sandbox, host, port, ctx.args)
    if dry_run:
        output.plain(shlex.join(argv) + "\n")
        return
    if shutil.which("ssh") is None:
        raise ToolMissing("ssh", "openssh-client")
    os.execvp("ssh", argv)  # hands the terminal to OpenSSH; nothing runs after this


def sandbox_list(api: ApiClient) -> list[dict[str, Any]] | None:
    """The caller's sandboxes from GET /api/sandboxes, or None when the manager has none."""
    try:
        data = api.get("/api/sandboxes")
    except NotFound:
        return None
    if isinstance(data, dict):
        data = data.get("items", data.get("sandboxes", []))
    return [s for s in data if isinstance(s, dict) and s.get("id")]


def ssh_config_text(
    sandboxes: Sequence[dict[str, Any]],
    host: str,
    port: int,
    info: dict[str, Any],
    identity: Path | None = None,
    prefix: str = HOST_PREFIX,
) -> str:
    """~/.ssh/config blocks: one Host per sandbox, aliases `<prefix><id>` and `<prefix><name>`."""
    lines = [
        f"# Atelier sandboxes through the SSH gateway at {host}:{port}",
        "# (generated by `atelier ssh-config`; the gateway's host key, for known_hosts:)",
        f"# [{host}]:{port} {info.get('host_key', '?')}",
    ]
    for sandbox in sandboxes:
        aliases = [prefix + sandbox["id"]]
        if sandbox.get("name"):
            aliases.append(prefix + str(sandbox["name"]))
        lines += ["", "Host " + " ".join(aliases), f"    HostName {host}", f"    Port {port}"]
        lines.append(f"    User {sandbox['id']}")
        if identity is not None:
            lines += [f"    IdentityFile {identity}", "    IdentitiesOnly yes"]
        lines.append("    ServerAliveInterval 30")
    return "\n".join(lines) + "\n"


def ssh_config(
    identity: Annotated[
        Path | None, typer.Option("--identity", "-i", help="Add IdentityFile for this key.")
    ] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Host alias prefix.")] = HOST_PREFIX,
    json_output: output.JsonFlag = False,
) -> None:
    """Print a ~/.ssh/config block per sandbox (for VS Code Remote-SSH and JetBrains)."""
    output.use_json(json_output)
    with connect() as api:
        host, port, info = gateway_address(api)
        sandboxes = sandbox_list(api)
    if sandboxes is None:
        output.warn(f"{client_settings().url} does not list sandboxes (GET /api/sandboxes)")
        sandboxes = []
    text = ssh_config_text(sandboxes, host, port, info, identity, prefix)
    data = {"host": host, "port": port, "sandboxes": sandboxes, "config": text}
    if output.state.json:
        output.emit_json(data)
    else:
        output.plain(text)


def register(root: typer.Typer) -> None:
    """Add the top-level `ssh` and `ssh-config` commands."""
    extra = {"allow_extra_args": True, "ignore_unknown_options": True}
    root.command("ssh", context_settings=extra)(ssh)
    root.command("ssh-config")(ssh_config)
