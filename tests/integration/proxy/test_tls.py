"""TLS modes against real components: on-demand from Debian's pebble, wildcard files."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from atelier.core.proxy.tokens import ProxyKeys
from atelier.runtime.host import proc
from atelier.runtime.host.names import new_id
from tests.fakes.pki import ThrowawayCA
from tests.integration.proxy.harness import Recorder, Stack, caddy_missing, free_port, retry_tls


class Pebble:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.management = free_port()
        self.ca = ThrowawayCA(directory / "pki", "Pebble listener CA")
        self.root: Path = directory / "pebble-root.pem"
        self.child: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    async def start(self) -> None:
        listener = self.ca.issue("listener", ["localhost"], ips=("127.0.0.1",))
        config = self.directory / "pebble.json"
        config.write_text(
            '{"pebble": {'
            f'"listenAddress": "127.0.0.1:{self.port}",'
            f'"managementListenAddress": "127.0.0.1:{self.management}",'
            f'"certificate": "{listener.cert}", "privateKey": "{listener.key}",'
            f'"httpPort": {free_port()}, "tlsPort": {free_port()},'
            '"ocspResponderURL": "", "externalAccountBindingRequired": false}}'
        )
        env = {
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_VA_ALWAYS_VALID": "1",
            "PEBBLE_WFE_NONCEREJECT": "0",
        }
        log = (self.directory / "pebble.log").open("wb")
        with log:
            self.child = await proc.spawn(
                ["pebble", "-config", config], stdout=log, stderr=log, env=env
            )
        trust = ssl.create_default_context(cafile=str(self.ca.pem))
        async with httpx.AsyncClient(verify=trust, timeout=5) as client:
            for _ in range(200):
                try:
                    root = await client.get(f"https://127.0.0.1:{self.management}/roots/0")
                    if root.status_code == 200:
                        self.root.write_bytes(root.content)
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise TimeoutError("pebble did not start")

    async def stop(self) -> None:
        if self.child is not None and self.child.returncode is None:
            os.killpg(self.child.pid, signal.SIGTERM)
            await self.child.wait()


@pytest.fixture
async def pebble(tmp_path: Path) -> AsyncIterator[Pebble]:
    if proc.which("pebble") is None:
        pytest.skip("needs pebble (apt-get install pebble)")
    server = Pebble(tmp_path)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


def handshake(port: int, host: str, context: ssl.SSLContext) -> dict[str, object]:
    """The peer certificate of a TLS handshake with `host` as SNI (ssl.SSLError if refused)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=20) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        cert = tls.getpeercert()
    assert cert is not None
    return dict(cert)


async def test_on_demand_certificates_only_for_existing_sandboxes(
    pebble: Pebble, recorder: Recorder
) -> None:
    reason = caddy_missing()
    if reason:
        pytest.skip(reason)
    overrides = {
        "tls": "on_demand",
        "acme_ca": pebble.url,
        "acme_email": "ops@atelier.test",
        "acme_ca_roots": [str(pebble.ca.pem)],
    }
    async with Stack(overrides) as stack:
        owner = await stack.manager.auth.create_user("owner")
        sid = new_id()
        stack.directory.add(sid, owner.id, services={"code": recorder.endpoint})
        await stack.proxy.sandbox_running(sid, {"code": recorder.endpoint})
        trust = ssl.create_default_context(cafile=str(pebble.root))
        host = f"sandbox-{sid}.atelier.test"

        cert = await asyncio.to_thread(handshake, stack.https_port, host, trust)
        issuer = dict(pair[0] for pair in cert["issuer"])  # type: ignore[attr-defined]
        assert issuer["commonName"].startswith("Pebble Intermediate CA")
        assert cert["subjectAltName"] == (("DNS", host),)
        async with await stack.client(trust) as client:
            answer = await retry_tls(lambda: client.get(stack.url(host, "/")))
            assert answer.status_code == 401  # TLS done; forward-auth wants a credential
            dashboard = await retry_tls(
                lambda: client.get(stack.url(stack.dashboard, "/health/live"))
            )
            assert dashboard.status_code == 200

        unknown = f"sandbox-{new_id()}.atelier.test"
        with pytest.raises(ssl.SSLError):
            await asyncio.to_thread(handshake, stack.https_port, unknown, trust)

        # The ask endpoint itself, as Caddy calls it.
        key = ProxyKeys.from_data_dir(stack.manager.config.paths.data_dir).caddy_secret
        ask = f"http://127.0.0.1:{stack.manager_port}/internal/proxy/ask"
        async with httpx.AsyncClient(timeout=5) as plain:
            assert (await plain.get(ask, params={"domain": host, "key": key})).status_code == 200
            assert (await plain.get(ask, params={"domain": unknown, "key": key})).status_code == 404
            assert (await plain.get(ask, params={"domain": host})).status_code == 404
    assert recorder.seen == []


async def test_wildcard_certificate_files_and_renewal(tmp_path: Path, recorder: Recorder) -> None:
    reason = caddy_missing()
    if reason:
        pytest.skip(reason)
    ca = ThrowawayCA(tmp_path / "pki")
    first = ca.issue("wildcard", ["*.atelier.test", "atelier.test"])
    overrides = {"tls": "wildcard_files", "cert_file": str(first.cert), "key_file": str(first.key)}
    async with Stack(overrides) as stack:
        owner = await stack.manager.auth.create_user("owner")
        sid = new_id()
        stack.directory.add(sid, owner.id, services={"browser": recorder.endpoint})
        await stack.proxy.sandbox_running(sid, {"browser": recorder.endpoint})
        trust = ssl.create_default_context(cafile=str(ca.pem))
        async with await stack.client(trust) as client:
            answer = await retry_tls(lambda: client.get(stack.url(f"browser-{sid}.atelier.test")))
            assert answer.status_code == 401
            health = (await client.get(stack.url(stack.dashboard, "/health"))).json()
        proxy_check = health["checks"]["proxy"]
        assert proxy_check["ok"] is True and "valid until" in proxy_check["detail"]

        def serial() -> int:
            pem = ssl.DER_cert_to_PEM_cert(
                _peer_der(stack.https_port, f"browser-{sid}.atelier.test", trust)
            )
            from cryptography import x509

            return x509.load_pem_x509_certificate(pem.encode()).serial_number

        assert await asyncio.to_thread(serial) == first.serial
        renewed = ca.issue("renewed", ["*.atelier.test", "atelier.test"])
        first.cert.write_bytes(renewed.cert.read_bytes())
        first.key.write_bytes(renewed.key.read_bytes())
        os.utime(first.cert, (1, 1))  # a new mtime even within the same second
        await stack.proxy.tick()
        assert await asyncio.to_thread(serial) == renewed.serial


def _peer_der(port: int, host: str, context: ssl.SSLContext) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=20) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der
