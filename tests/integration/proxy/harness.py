"""A real proxy stack on loopback: Caddy (child of the manager), a manager app served by
uvicorn with a SQLite database in a temporary directory, recording upstreams standing in
for guest services, and an HTTPS client that reaches any hostname on 127.0.0.1 with the
right SNI. Used by the integration tests and by benchmarks/routes.py.

Everything started here is stopped in `Stack.__aexit__` / `Recorder.close`, also when the
test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import httpcore
import httpx
import uvicorn

from atelier.api.app import create_app
from atelier.config import AtelierConfig
from atelier.core.manager import Manager
from atelier.core.proxy import ProxyService, install_proxy
from atelier.runtime.host import proc
from atelier.runtime.network.base import Endpoint
from atelier.runtime.proxy.certs import internal_root
from tests.fakes.sandbox_directory import FakeDirectory

DOMAIN = "atelier.test"
TLS_ERRORS = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError)


def free_port() -> int:
    """A currently free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def caddy_missing() -> str | None:
    """Why the real-Caddy tests cannot run, or None."""
    if proc.which("caddy") is None:
        return "needs caddy (apt-get install caddy)"
    return None


class _Recording(BaseHTTPRequestHandler):
    recorder: Recorder

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        seen = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body,
        }
        self.recorder.seen.append(seen)
        payload = json.dumps({"upstream": self.recorder.name, **seen}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Set-Cookie", "guest_app=from-guest; Path=/")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Recorder:
    """A loopback HTTP server standing in for a guest service; it records every request."""

    def __init__(self, name: str = "guest") -> None:
        self.name = name
        self.seen: list[dict[str, Any]] = []
        handler = type("Handler", (_Recording,), {"recorder": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> Endpoint:
        """How the proxy dials it (as the network driver would describe a guest port)."""
        return Endpoint("tcp", "127.0.0.1", self.port)

    def headers(self, index: int = -1) -> dict[str, list[str]]:
        """The headers of a recorded request, by lowercase name."""
        out: dict[str, list[str]] = {}
        for key, value in self.seen[index]["headers"]:
            out.setdefault(key.lower(), []).append(value)
        return out

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class _LoopbackBackend(httpcore.AsyncNetworkBackend):
    """Connects every hostname to 127.0.0.1; TLS still uses the hostname for SNI."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_tcp(
            "127.0.0.1", port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def loopback_client(ssl_context: ssl.SSLContext, timeout: float = 10.0) -> httpx.AsyncClient:
    """An HTTP client for `https://<any host>:<port>/` served on loopback."""
    transport = httpx.AsyncHTTPTransport(verify=ssl_context)
    transport._pool = httpcore.AsyncConnectionPool(  # no public hook for a resolver
        ssl_context=ssl_context, network_backend=_LoopbackBackend()
    )
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False)


async def retry_tls(
    call: Callable[[], Awaitable[httpx.Response]], *, attempts: int = 200, pause: float = 0.05
) -> httpx.Response:
    """Retry while the certificate is still being issued (Caddy does it after the change)."""
    for attempt in range(attempts):
        try:
            return await call()
        except TLS_ERRORS:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")


class Stack:
    """Caddy + manager + fake sandbox directory, on loopback ports."""

    def __init__(self, proxy: dict[str, Any] | None = None) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="atl-proxy-", dir="/tmp"))
        self.http_port = free_port()
        self.https_port = free_port()
        self.manager_port = free_port()
        self.directory = FakeDirectory()
        self._proxy_overrides = proxy or {}
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.manager: Manager
        self.proxy: ProxyService

    def config(self) -> AtelierConfig:
        proxy = {
            "caddy": "child",
            "domain": DOMAIN,
            "http_port": self.http_port,
            "https_port": self.https_port,
            "listen": ["127.0.0.1"],
            "resync_interval_s": 3600,
            **self._proxy_overrides,
        }
        return AtelierConfig(
            paths={
                "data_dir": self.run_dir / "data",
                "run_dir": self.run_dir / "run",
                "cache_dir": self.run_dir / "cache",
            },
            server={"host": "127.0.0.1", "port": self.manager_port},
            proxy=proxy,
        )

    @property
    def scheme(self) -> str:
        return self.proxy.settings.scheme

    @property
    def port(self) -> int:
        return self.proxy.settings.public_port

    def url(self, host: str, path: str = "/") -> str:
        return self.proxy.settings.url(host, path)

    @property
    def dashboard(self) -> str:
        return self.proxy.settings.dashboard_host

    async def __aenter__(self) -> Stack:
        try:
            self.manager = Manager(self.config())
            self.proxy = install_proxy(self.manager, self.directory)
            app = create_app(self.manager)
            config = uvicorn.Config(
                app, host="127.0.0.1", port=self.manager_port, log_level="warning", lifespan="on"
            )
            self._server = uvicorn.Server(config)
            self._task = asyncio.create_task(self._server.serve())
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.02)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            if self._server is not None and self._task is not None:
                self._server.should_exit = True
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._task, 30)
            # The lifespan stops the manager and with it Caddy; make sure even if it failed.
            if hasattr(self, "proxy"):
                await self.proxy.stop()
        finally:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts Caddy's internal CA (waits for Caddy to create it)."""
        root = internal_root(self.proxy.settings)
        return ssl.create_default_context(cafile=str(root))

    async def wait_internal_ca(self, timeout: float = 20.0) -> None:
        root = internal_root(self.proxy.settings)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not root.exists():
            if loop.time() > deadline:
                raise TimeoutError(f"Caddy did not create {root}")
            await asyncio.sleep(0.05)

    async def client(self, ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
        """A loopback client trusting `ssl_context`, or Caddy's internal CA by default."""
        if ssl_context is None and self.proxy.settings.tls == "internal":
            await self.wait_internal_ca()
            ssl_context = self.ssl_context()
        return loopback_client(ssl_context or ssl.create_default_context())
