"""The real OpenCode for tests: installed from npm once, run as host processes on loopback.

`opencode_binary()` installs `opencode-ai@<pin>` under the host cache (what `.ci/run`'s
install phase does ahead of time) and returns the binary. `host_opencode()` runs
`opencode serve` on 127.0.0.1 with HOME and XDG directories in a temp dir, the variables
that stop outside calls, a password, and plugins copied from a warmed-up template (the
first start of OpenCode installs them from the npm registry; the template does that once
per cache). Its config normally points at the scripted model server of
`tests.fakes.llm_server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.runtime.host import proc
from atelier.runtime.opencode import OPENCODE_VERSION, OpencodeClient
from tests.hostkit import free_port
from tests.managerkit import HOST_CACHE

TOOLS = HOST_CACHE / "tools" / f"opencode-ai-{OPENCODE_VERSION}"
# The platform package's own binary (bin/opencode.exe of opencode-ai is a launcher copy).
BINARY = TOOLS / "node_modules" / "opencode-linux-x64" / "bin" / "opencode"
TEMPLATE_HOME = TOOLS / "home-template"
PLUGIN_MARKER = Path(".config/opencode/node_modules/@opencode-ai/plugin/package.json")
QUIET_ENV = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
    "OPENCODE_DISABLE_EXTERNAL_SKILLS": "1",
}
INSTALL_COMMAND = [
    "npm", "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund",
    f"opencode-ai@{OPENCODE_VERSION}",
]  # fmt: skip


async def opencode_binary() -> Path:
    """The pinned OpenCode binary, installed from the npm registry when missing."""
    if not BINARY.exists():
        TOOLS.mkdir(parents=True, exist_ok=True)
        await proc.run(INSTALL_COMMAND, timeout=900)
    return BINARY


def home_env(home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        **QUIET_ENV,
    }


@dataclass
class HostOpencode:
    """A running `opencode serve`."""

    url: str
    password: str
    home: Path
    workdir: Path
    process: asyncio.subprocess.Process
    log: Path

    def client(self, **kw: Any) -> OpencodeClient:
        return OpencodeClient(self.url, password=self.password, **kw)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


async def start_opencode(
    home: Path, workdir: Path, password: str, port: int | None = None
) -> HostOpencode:
    """Start OpenCode (returns at once; use `wait_ready`)."""
    binary = await opencode_binary()
    await warm_template(binary)
    plugins = home / ".config" / "opencode" / "node_modules"
    if not plugins.exists():
        shutil.copytree(TEMPLATE_HOME / ".config/opencode/node_modules", plugins, symlinks=True)
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = home / "opencode.log"
    with log.open("ab") as out:
        process = await proc.spawn(
            [binary, "serve", "--hostname", "127.0.0.1", "--port", str(port)],
            env={**home_env(home), "OPENCODE_SERVER_PASSWORD": password},
            cwd=workdir,
            stdout=out,
            stderr=out,
        )
    return HostOpencode(f"http://127.0.0.1:{port}", password, home, workdir, process, log)


async def wait_ready(server: HostOpencode, within: float = 180.0) -> None:
    client = server.client(timeout=30, probe_timeout=2)
    try:
        await client.wait_ready(time.monotonic() + within)
    except BaseException:
        raise AssertionError(f"OpenCode did not start:\n{server.log.read_text()[-3000:]}") from None
    finally:
        await client.aclose()


async def stop_opencode(server: HostOpencode) -> None:
    server.stop()
    with contextlib.suppress(ProcessLookupError):
        await asyncio.wait_for(server.process.wait(), 15)


@contextlib.asynccontextmanager
async def host_opencode(
    root: Path, config: dict[str, Any], password: str = "test-password"
) -> AsyncIterator[HostOpencode]:
    """OpenCode with `config` as its global opencode.json, killed afterwards."""
    home = root / "home"
    (home / ".config" / "opencode").mkdir(parents=True, exist_ok=True)
    (home / ".config" / "opencode" / "opencode.json").write_text(json.dumps(config))
    server = await start_opencode(home, root / "work", password)
    try:
        await wait_ready(server)
        yield server
    finally:
        await stop_opencode(server)


_warm_lock = asyncio.Lock()


async def warm_template(binary: Path) -> None:
    """Run OpenCode once in the template home so it installs its plugins (npm registry)."""
    async with _warm_lock:
        if (TEMPLATE_HOME / PLUGIN_MARKER).exists():
            return
        scratch = TEMPLATE_HOME.with_name("home-template.tmp")
        shutil.rmtree(scratch, ignore_errors=True)
        (scratch / "work").mkdir(parents=True)
        port = free_port()
        process = await proc.spawn(
            [binary, "serve", "--hostname", "127.0.0.1", "--port", str(port)],
            env={**home_env(scratch), "OPENCODE_SERVER_PASSWORD": "warm"},
            cwd=scratch / "work",
        )
        try:
            client = OpencodeClient(f"http://127.0.0.1:{port}", password="warm", timeout=30)
            await client.wait_ready(time.monotonic() + 300)
            await client.sessions()  # the first instance request triggers the plugin install
            await client.aclose()
            for _ in range(600):
                if (scratch / PLUGIN_MARKER).exists():
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(3)  # let npm finish writing
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        shutil.rmtree(TEMPLATE_HOME, ignore_errors=True)
        scratch.rename(TEMPLATE_HOME)
