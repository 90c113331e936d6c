"""What workspaces put into guests: the env file, dev-command wrappers, git credentials.

The env file and the wrapper are run by a real /bin/sh on the host to prove values are
never expanded (no `$(...)`, backticks or globbing) and reach the command's environment.
"""

from __future__ import annotations

import shlex
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

from atelier.core.prebuilds.staleness import host_view
from atelier.core.restore import host_keys, renumber_batch
from atelier.core.workspaces.gitauth import GitCredential, git_auth, url_host
from atelier.core.workspaces.guest import DEV_WRAPPER, env_file, service_spec
from atelier.core.workspaces.model import DevCommand
from atelier.runtime.host import proc
from atelier.runtime.network.base import Allocation

NASTY = 'a\'b "c" $(touch /tmp/pwned) `id` $HOME * \\n\nline2'


async def test_env_file_values_are_never_expanded(tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text(env_file({"NASTY": NASTY, "PLAIN": "x"}))
    script = f'set -a; . {shlex.quote(str(env))}; set +a; printf %s "$NASTY"'
    done = await proc.run(["sh", "-c", script], timeout=10, cwd=tmp_path)
    assert done.stdout.decode() == NASTY
    assert not (tmp_path / "pwned").exists()


async def test_the_dev_wrapper_sources_the_env_then_runs_the_command(tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text(env_file({"SECRET_VALUE": NASTY}))
    wrapper = DEV_WRAPPER.replace("/run/atelier-secrets/env", str(env))
    command = 'printf "%s|%s" "$SECRET_VALUE" "$0"'
    done = await proc.run(["sh", "-c", wrapper, "atelier-dev", command], timeout=10)
    assert done.stdout.decode() == f"{NASTY}|/bin/sh"


def test_the_service_spec_of_a_dev_command() -> None:
    dev = DevCommand("web", "npm run dev -- --port 5173", "/home/dev/workspace/app", 5173,
                     {"HOST": "0.0.0.0"}, True, "public")  # fmt: skip
    spec = service_spec(dev)
    assert spec["argv"][:3] == ["/bin/sh", "-c", DEV_WRAPPER]
    assert spec["argv"][3:] == ["atelier-dev", dev.command]
    assert spec["user"] == "dev" and spec["port"] == 5173 and spec["env"] == {"HOST": "0.0.0.0"}
    assert spec["dirs"] == ["/home/dev/workspace/app"]
    assert "autostart" not in spec  # started after the secrets are in place, never at boot


def test_tokens_go_through_askpass_never_into_argv_or_urls() -> None:
    github = GitCredential("id1", "gh", "github", "ghp_secret", "github.com")
    auth = git_auth(github, "/run/atelier-git/abc")
    assert auth.env["GIT_ASKPASS"] == "/run/atelier-git/abc/askpass"
    assert auth.env["ATELIER_GIT_USERNAME"] == "x-access-token"
    assert auth.env["ATELIER_GIT_PASSWORD"] == "ghp_secret"
    script, mode = auth.files["/run/atelier-git/abc/askpass"]
    assert b"ghp_secret" not in script and mode == 0o700
    assert auth.redact == ("ghp_secret",)
    assert github.covers("https://github.com/acme/x.git") and not github.covers(
        "https://evil.example/x"
    )
    key = GitCredential("id2", "k", "ssh", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", None, None,
                        "github.com ssh-ed25519 AAAA")  # fmt: skip
    ssh = git_auth(key, "/d")
    assert (
        "-i /d/key" in ssh.env["GIT_SSH_COMMAND"]
        and "StrictHostKeyChecking=yes" in ssh.env["GIT_SSH_COMMAND"]
    )
    assert ssh.files["/d/key"][1] == 0o600
    assert git_auth(None, "/d").env == {"GIT_TERMINAL_PROMPT": "0"}


async def test_the_askpass_script_answers_git(tmp_path: Path) -> None:
    auth = git_auth(GitCredential("i", "n", "https", "p4ss", None, "alice"), str(tmp_path))
    for path, (content, mode) in auth.files.items():
        Path(path).write_bytes(content)
        Path(path).chmod(mode)
    askpass = auth.env["GIT_ASKPASS"]
    user = await proc.run([askpass, "Username for 'https://h': "], timeout=5, env=auth.env)
    password = await proc.run(
        [askpass, "Password for 'https://alice@h': "], timeout=5, env=auth.env
    )
    assert (user.text, password.text) == ("alice\n", "p4ss\n")


def test_hosts_of_git_urls_and_the_host_view_of_guest_addresses() -> None:
    assert url_host("https://user@GitHub.com/a/b") == "github.com"
    assert url_host("git@gitlab.com:a/b.git") == "gitlab.com"
    assert url_host("git://10.0.2.100:9418/app.git") == "10.0.2.100:9418"
    assert (
        host_view("git://10.0.2.100:9418/app.git", "10.0.2.100") == "git://127.0.0.1:9418/app.git"
    )
    assert host_view("https://github.com/a.git", "10.0.2.100") == "https://github.com/a.git"
    assert host_view("git://10.0.2.100/x", None) == "git://10.0.2.100/x"


def test_renumbering_is_one_ip_batch() -> None:
    allocation = Allocation(
        sandbox_id="abcdefgh", driver="bridge", subnet=IPv4Network("172.16.0.0/24"),
        ip=IPv4Address("172.16.0.7"), gateway=IPv4Address("172.16.0.1"), mac="02:00:ac:10:00:07",
        subnet6=IPv6Network("fd00:a7e1::/64"), ip6=IPv6Address("fd00:a7e1::7"),
    )  # fmt: skip
    batch = renumber_batch("eth0", allocation, new_mac=True).splitlines()
    assert batch == [
        "link set dev eth0 down",
        "link set dev eth0 address 02:00:ac:10:00:07",
        "link set dev eth0 up",
        "addr flush dev eth0 scope global",
        "addr add 172.16.0.7/24 dev eth0",
        "addr add fd00:a7e1::7/64 dev eth0 nodad",
        "route replace default via 172.16.0.1 dev eth0",
    ]
    assert "address" not in renumber_batch("eth0", allocation, new_mac=False)


def test_host_keys_are_openssh_keys() -> None:
    keys = host_keys()
    private, mode = keys["/etc/ssh/ssh_host_ed25519_key"]
    assert private.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----") and mode == 0o600
    assert keys["/etc/ssh/ssh_host_ecdsa_key.pub"][0].startswith(b"ecdsa-sha2-nistp256 ")
    assert (
        host_keys()["/etc/ssh/ssh_host_ed25519_key.pub"]
        != keys["/etc/ssh/ssh_host_ed25519_key.pub"]
    )
