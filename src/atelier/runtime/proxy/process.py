"""Running Caddy: argv and environment, a child process for `child` mode and tests, and the
systemd unit `atelier init` installs for `service` mode.

Caddy's own state (its internal CA, certificates, autosave) goes under Atelier's state
directory: XDG_DATA_HOME, XDG_CONFIG_HOME and HOME all point there, so nothing lands in
root's home. The admin socket's directory is created 0700, so only root (or the owner) can
configure Caddy; guests never reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from atelier.runtime.host import proc
from atelier.runtime.proxy.config import ProxySettings
from atelier.runtime.proxy.errors import ProxyError

log = logging.getLogger(__name__)

_READY_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 10.0
_POLL_S = 0.05
UNIT_NAME = "atelier-caddy.service"


def caddy_argv(binary: str, config_file: Path) -> list[str]:
    """`caddy run` with Atelier's base config file."""
    return [binary, "run", "--config", str(config_file)]


def caddy_env(settings: ProxySettings) -> dict[str, str]:
    """Caddy's data, config and home directories, all under the state directory."""
    state = settings.state_dir
    return {
        "XDG_DATA_HOME": str(state / "data"),
        "XDG_CONFIG_HOME": str(state / "config"),
        "HOME": str(state),
    }


def write_config(settings: ProxySettings, config: dict[str, Any]) -> Path:
    """Write the base config (it holds the shared secret: mode 0600) and make Caddy's dirs."""
    for directory in (settings.state_dir, settings.admin_socket.parent):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = settings.config_file
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(config, out, indent=2)
    tmp.replace(path)
    return path


def systemd_unit(settings: ProxySettings, binary: str = "/usr/bin/caddy") -> str:
    """The unit that runs Atelier's Caddy in `service` mode (installed by `atelier init`).

    Caddy runs as root (it reads the certbot files and the manager's socket directory) with
    every capability dropped except binding ports below 1024, on a read-only system.
    """
    env = "\n".join(f"Environment={k}={v}" for k, v in caddy_env(settings).items())
    argv = " ".join(caddy_argv(binary, settings.config_file))
    return f"""[Unit]
Description=Atelier's Caddy (sandbox hostnames and the dashboard over HTTPS)
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
ExecStart={argv}
{env}
UMask=0077
Restart=on-failure
RestartSec=2
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
AmbientCapabilities=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths={settings.state_dir} {settings.admin_socket.parent}
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
"""


class CaddyProcess:
    """A Caddy child owned by the manager (`child` mode) or by a test fixture."""

    def __init__(self, settings: ProxySettings) -> None:
        self.settings = settings
        self._child: asyncio.subprocess.Process | None = None
        self._log: Path = settings.state_dir / "caddy.log"

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs."""
        return self._child.pid if self._child and self._child.returncode is None else None

    async def start(self, config: dict[str, Any]) -> None:
        """Write `config`, start Caddy from it and wait until its admin socket answers.

        Raises ToolMissing (apt-get install caddy) or ProxyError with the log's tail.
        """
        if self.pid is not None:
            return
        path = write_config(self.settings, config)
        socket = self.settings.admin_socket
        if await _answers(socket):
            # A Caddy left by an earlier manager run still serves: adopt it (the driver loads
            # the base config into it) instead of failing on its ports.
            log.warning("adopting the Caddy already answering at %s", socket)
            return
        with contextlib.suppress(FileNotFoundError):
            socket.unlink()
        binary = proc.require(self.settings.caddy_binary)
        with self._log.open("ab") as log_file:
            self._child = await proc.spawn(
                caddy_argv(binary, path),
                stdout=log_file,
                stderr=log_file,
                env=caddy_env(self.settings),
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _READY_TIMEOUT_S
        while not await _answers(socket):
            if self._child.returncode is not None or loop.time() > deadline:
                await self.stop()
                raise ProxyError(
                    f"Caddy did not start: {self._tail()}",
                    hint=f"see {self._log}; is another Caddy using the ports or the socket?",
                )
            await asyncio.sleep(_POLL_S)
        socket.chmod(0o600)

    async def stop(self) -> None:
        """Stop the child: SIGTERM, then SIGKILL after a grace period."""
        child, self._child = self._child, None
        if child is not None:
            await proc.stop_group(child, _STOP_TIMEOUT_S)

    def _tail(self) -> str:
        try:
            lines = self._log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-3:]) or "no output"


async def _answers(socket: Path) -> bool:
    try:
        _reader, writer = await asyncio.open_unix_connection(str(socket))
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
