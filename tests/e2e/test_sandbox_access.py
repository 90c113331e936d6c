"""A real sandbox reached the ways users reach it: HTTPS through Caddy and `ssh` through the
gateway, by its owner, a non-member who later becomes a member, and nobody.

The full manager (`atelier serve`: proxy with a Caddy child using its internal CA, the SSH
gateway, QEMU, a reflink pool, user networking) runs as its own process group. In the guest
a small server on code-server's port (13337) echoes the request headers it received, so the
test can show that no Atelier credential reaches guest code.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import signal
import ssl
from pathlib import Path

import httpx
import pytest

from atelier.config import AtelierConfig
from atelier.runtime.host import proc
from atelier.runtime.proxy.config import ProxyConfig, resolve
from atelier.runtime.ssh.config import SshConfig
from tests.hostkit import free_port, vms_named, xfs_pool
from tests.integration.manager.conftest import ManagerProcess, json_of, make_user, manager_config
from tests.integration.proxy.harness import loopback_client, retry_tls

pytestmark = [pytest.mark.vm, pytest.mark.root]

DOMAIN = "atelier.test"
ECHO_SERVER = b"""
import http.server, json
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "headers": [[k, v] for k, v in self.headers.items()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 13337), Echo).serve_forever()
"""


def full_config(tmp: Path, pool: Path) -> AtelierConfig:
    base = manager_config(tmp, pool, free_port())
    proxy = ProxyConfig(
        caddy="child", domain=DOMAIN, http_port=free_port(), https_port=free_port(),
        listen=["127.0.0.1"], tls="internal",
    )  # fmt: skip
    ssh = SshConfig(listen_host="127.0.0.1", port=free_port(), upstream_timeout_s=120)
    return base.model_copy(update={"proxy": proxy, "ssh": ssh})


class Person:
    def __init__(self, name: str, token: str, key: Path) -> None:
        self.name, self.token, self.key = name, token, key


async def person(config: AtelierConfig, tmp: Path, name: str) -> Person:
    creds = await make_user(config, name)
    key = tmp / f"id_{name}"
    await proc.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key], timeout=30
    )
    return Person(name, creds.token, key)


def ssh_argv(
    config: AtelierConfig, tmp: Path, who: Person, sandbox: str, *args: str, tool: str = "ssh"
) -> list[str]:
    options = [
        "-F", "/dev/null", "-i", str(who.key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        "-o", f"UserKnownHostsFile={tmp / 'known_hosts'}", "-o", "StrictHostKeyChecking=accept-new",
        "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=120",
    ]  # fmt: skip
    if tool == "ssh":
        return ["ssh", *options, "-p", str(config.ssh.port), f"{sandbox}@127.0.0.1", *args]
    return [tool, *options, "-P", str(config.ssh.port), *args]


async def ssh(
    config: AtelierConfig, tmp: Path, who: Person, sandbox: str, *args: str, timeout: float = 180
) -> proc.Completed:
    return await proc.run(ssh_argv(config, tmp, who, sandbox, *args), timeout=timeout, check=False)


async def test_https_and_ssh_to_a_real_sandbox(tmp_path: Path, artifacts_dir: Path) -> None:
    async with xfs_pool(tmp_path) as pool:
        config = full_config(tmp_path, pool)
        alice = await person(config, tmp_path, "alice")
        bob = await person(config, tmp_path, "bob")
        manager = ManagerProcess(config, tmp_path)
        await manager.start()
        sandbox_id = ""
        try:
            settings = resolve(
                config.proxy, data_dir=config.paths.data_dir, run_dir=config.paths.run_dir,
                manager_host="127.0.0.1", manager_port=config.server.port,
            )  # fmt: skip
            api_a = httpx.AsyncClient(
                base_url=manager.url,
                headers={"Authorization": f"Bearer {alice.token}"},
                timeout=600,
            )
            api_b = httpx.AsyncClient(
                base_url=manager.url, headers={"Authorization": f"Bearer {bob.token}"}, timeout=600
            )
            for who, client in ((alice, api_a), (bob, api_b)):
                key = (tmp_path / f"id_{who.name}.pub").read_text()
                json_of(
                    await client.post("/api/ssh-keys", json={"name": "laptop", "publicKey": key})
                )

            created = json_of(await api_a.post("/api/sandboxes?wait=true", json={"name": "access"}))
            sandbox_id = created["id"]
            assert created["status"] == "running", created
            assert "routes" in [s["step"] for s in created["steps"]]
            await api_a.put(
                f"/api/sandboxes/{sandbox_id}/files",
                params={"path": "/root/echo.py"},
                content=ECHO_SERVER,
            )
            json_of(await api_a.post(f"/api/sandboxes/{sandbox_id}/exec", json={
                "argv": ["sh", "-c", "python3 /root/echo.py >/dev/null 2>&1 &"], "keepBackground": True}))  # fmt: skip

            # --- HTTPS through Caddy -----------------------------------------------------
            root = settings.storage_dir / "pki" / "authorities" / "local" / "root.crt"
            for _ in range(200):
                if root.exists():
                    break
                await asyncio.sleep(0.1)
            https = loopback_client(ssl.create_default_context(cafile=str(root)), timeout=60)
            url = settings.url(f"sandbox-{sandbox_id}.{DOMAIN}", "/probe")
            cookies = {"atelier_session": "dashboard-secret", "app": "1"}
            member = await retry_tls(
                lambda: https.get(
                    url,
                    headers={
                        "Authorization": f"Bearer {alice.token}",
                        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
                    },
                )
            )
            for _ in range(100):  # the echo server starts a moment after exec returns
                if member.status_code == 200:
                    break
                await asyncio.sleep(0.3)
                member = await https.get(
                    url,
                    headers={
                        "Authorization": f"Bearer {alice.token}",
                        "Cookie": "atelier_session=dashboard-secret; app=1",
                    },
                )
            assert member.status_code == 200, member.text
            seen = {k.lower(): v for k, v in member.json()["headers"]}
            assert "authorization" not in seen, seen
            assert "atelier_session" not in seen.get("cookie", ""), seen
            assert "app=1" in seen.get("cookie", ""), seen
            assert (
                await https.get(url, headers={"Authorization": f"Bearer {bob.token}"})
            ).status_code == 404
            assert (await https.get(url)).status_code == 401

            # --- SSH through the gateway -------------------------------------------------
            env = await ssh(
                config,
                tmp_path,
                alice,
                sandbox_id,
                "-o",
                "SetEnv=FOO=bar-from-client",
                "echo $FOO; id -un",
            )
            assert env.returncode == 0, env.stderr.decode()
            assert env.text.split() == ["bar-from-client", "dev"]
            pty = await ssh(config, tmp_path, alice, sandbox_id, "-tt", "tty")
            assert pty.returncode == 0 and "/dev/pts/" in pty.text, pty.text

            payload = tmp_path / "payload.bin"
            payload.write_bytes(secrets.token_bytes(300_000))
            digest = hashlib.sha256(payload.read_bytes()).hexdigest()
            sftp_in = f"put {payload} /home/dev/up.bin\nget /home/dev/up.bin {tmp_path / 'down-sftp.bin'}\n".encode()
            sftp = await proc.run(
                [
                    *ssh_argv(
                        config,
                        tmp_path,
                        alice,
                        sandbox_id,
                        "-b",
                        "-",
                        f"{sandbox_id}@127.0.0.1",
                        tool="sftp",
                    )
                ],
                timeout=180,
                check=False,
                input=sftp_in,
            )
            assert sftp.returncode == 0, sftp.stderr.decode()
            assert hashlib.sha256((tmp_path / "down-sftp.bin").read_bytes()).hexdigest() == digest
            for mode in ([], ["-O"]):
                up = await proc.run(
                    [
                        *ssh_argv(
                            config,
                            tmp_path,
                            alice,
                            sandbox_id,
                            *mode,
                            str(payload),
                            f"{sandbox_id}@127.0.0.1:/home/dev/scp.bin",
                            tool="scp",
                        )
                    ],
                    timeout=180,
                    check=False,
                )
                assert up.returncode == 0, up.stderr.decode()
                target = tmp_path / f"down-scp{len(mode)}.bin"
                down = await proc.run(
                    [
                        *ssh_argv(
                            config,
                            tmp_path,
                            alice,
                            sandbox_id,
                            *mode,
                            f"{sandbox_id}@127.0.0.1:/home/dev/scp.bin",
                            str(target),
                            tool="scp",
                        )
                    ],
                    timeout=180,
                    check=False,
                )
                assert down.returncode == 0, down.stderr.decode()
                assert hashlib.sha256(target.read_bytes()).hexdigest() == digest

            local = free_port()
            forward = await proc.spawn(
                ssh_argv(
                    config,
                    tmp_path,
                    alice,
                    sandbox_id,
                    "-N",
                    "-L",
                    f"127.0.0.1:{local}:127.0.0.1:13337",
                )
            )
            try:
                response = None
                async with httpx.AsyncClient(timeout=10) as plain:
                    for _ in range(200):
                        try:
                            response = await plain.get(
                                f"http://127.0.0.1:{local}/through-the-tunnel"
                            )
                            break
                        except httpx.HTTPError:
                            await asyncio.sleep(0.3)
                assert response is not None and response.json()["path"] == "/through-the-tunnel"
            finally:
                forward.kill()
                await forward.wait()

            refused = await ssh(config, tmp_path, bob, sandbox_id, "true")
            assert refused.returncode != 0 and f"no sandbox {sandbox_id}" in refused.stderr.decode()
            json_of(
                await api_a.post(f"/api/sandboxes/{sandbox_id}/members", json={"username": "bob"})
            )
            both = await asyncio.gather(
                ssh(config, tmp_path, alice, sandbox_id, "echo alice-here"),
                ssh(config, tmp_path, bob, sandbox_id, "echo bob-here"),
            )
            assert [b.text.strip() for b in both] == ["alice-here", "bob-here"]
            unknown = await ssh(config, tmp_path, alice, "zzzzzzzz", "true")
            assert "no sandbox zzzzzzzz" in unknown.stderr.decode()

            json_of(await api_a.post(f"/api/sandboxes/{sandbox_id}/stop"))
            stopped = await ssh(config, tmp_path, alice, sandbox_id, "true")
            assert f"sandbox {sandbox_id} is stopped" in stopped.stderr.decode()
            assert f"atelier sandbox start {sandbox_id}" in stopped.stderr.decode()
            assert (
                await https.get(url, headers={"Authorization": f"Bearer {alice.token}"})
            ).status_code == 404

            assert (await api_a.delete(f"/api/sandboxes/{sandbox_id}")).status_code == 204
            assert (
                await https.get(url, headers={"Authorization": f"Bearer {alice.token}"})
            ).status_code == 404
            await https.aclose()
            await api_a.aclose()
            await api_b.aclose()
        finally:
            await manager.stop()
            (artifacts_dir / "manager.log").write_bytes(manager.log.read_bytes())
            for pid in vms_named(f"atl-sbx-{sandbox_id}") if sandbox_id else []:
                os.kill(pid, signal.SIGKILL)
