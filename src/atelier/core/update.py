"""`atelier update`: upgrade Atelier in place while sandboxes keep running.

1. Install the new version into the environment Atelier runs from (`--venv`, default the
   running one) from a wheel file or a package index, with uv when it is available (else
   that environment's pip).
2. Stop the manager: `systemctl stop atelier-manager` (its unit has `KillMode=process`),
   or SIGTERM to the process group of a manager run by hand. VMs live in their own
   sessions and keep running; the caches and Caddy are separate services.
3. Run the database migrations with the *new* code (`atelier update --migrate-only`).
4. Rewrite the systemd units with the new code (`atelier init --yes --only units`) and
   reload systemd, then start the manager again; it re-adopts every running VM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from atelier.config import AtelierConfig
from atelier.db import Database
from atelier.db.session import sqlite_url
from atelier.errors import AtelierError, ValidationError
from atelier.runtime.host import proc, systemd

log = logging.getLogger(__name__)

__all__ = [
    "ProcessRestart",
    "Restarter",
    "SystemdRestart",
    "UpdateReport",
    "find_uv",
    "install_argv",
    "migrate",
    "update",
]

INSTALL_TIMEOUT = 900.0
MIGRATE_TIMEOUT = 300.0
READY_TIMEOUT = 300.0
UV_PLACES = (Path("/opt/atelier-tools/bin/uv"),)


@dataclass
class UpdateReport:
    """What the update did."""

    source: str
    venv: Path
    before: str
    after: str = ""
    steps: list[str] = field(default_factory=list)
    manager_pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "source": self.source,
            "venv": str(self.venv),
            "before": self.before,
            "after": self.after,
            "steps": self.steps,
            "manager_pid": self.manager_pid,
        }


class Restarter(Protocol):
    """How the manager is stopped and started around the migrations."""

    async def stop(self) -> str:
        """Stop the manager (never the VMs); returns what was done."""
        ...

    async def start(self, venv: Path) -> str:
        """Start the manager from `venv`; returns what was done."""
        ...


class SystemdRestart:
    """The manager as `atelier-manager.service`."""

    def __init__(self, unit: str = systemd.MANAGER) -> None:
        self.unit = unit

    async def stop(self) -> str:
        await proc.run(["systemctl", "stop", self.unit], timeout=120)
        return f"systemctl stop {self.unit}"

    async def start(self, venv: Path) -> str:
        await proc.run(["systemctl", "daemon-reload"], timeout=120)
        await proc.run(["systemctl", "start", self.unit], timeout=120)
        return f"systemctl start {self.unit}"


class ProcessRestart:
    """A manager run by hand (or by a test) in its own process group, as the unit runs it."""

    def __init__(self, pid: int, config_file: Path, url: str, log_file: Path) -> None:
        self.pid = pid
        self.config_file = config_file
        self.url = url
        self.log_file = log_file
        self.new_pid: int | None = None

    async def stop(self) -> str:
        # Only the manager's own group: VMs and cache children run in their own sessions.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(self.pid), signal.SIGTERM)
        if not await proc.wait_for_exit(self.pid, 60):
            raise AtelierError(
                f"the manager (pid {self.pid}) did not exit within 60 s of SIGTERM",
                code="update_failed",
                hint="stop it by hand, then run `atelier update` again",
            )
        return f"stopped manager pid {self.pid} (SIGTERM to its process group)"

    async def start(self, venv: Path) -> str:
        with self.log_file.open("ab") as out:
            child = await proc.spawn(
                [venv / "bin" / "atelier", "serve"],
                env={"ATELIER_CONFIG": str(self.config_file)},
                stdout=out,
                stderr=out,
            )
        self.new_pid = child.pid
        await _wait_ready(self.url, child)
        return f"started manager pid {child.pid} from {venv}"


async def _wait_ready(url: str, child: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    async with httpx.AsyncClient(base_url=url, timeout=2, trust_env=False) as client:
        while loop.time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/health/ready")).status_code == 200:
                    return
            if child.returncode is not None:
                break
            await asyncio.sleep(0.2)
    raise AtelierError(
        f"the new manager did not become ready at {url}",
        code="update_failed",
        hint="see its log; the old version can be reinstalled the same way",
    )


def find_uv(venv: Path) -> str | None:
    """uv from the environment, the tools venv of install.sh, or PATH."""
    for candidate in (venv / "bin" / "uv", *UV_PLACES):
        if candidate.exists():
            return str(candidate)
    return proc.which("uv")


def install_argv(
    venv: Path,
    source: str,
    *,
    index_url: str | None = None,
    uv: str | None = None,
    no_deps: bool = False,
) -> list[str]:
    """The install command: a wheel path or a requirement (`atelier==1.2`), reinstalled
    even when the version number did not change; `no_deps` installs atelier alone."""
    python = str(venv / "bin" / "python")
    extra = ["--index-url", index_url] if index_url else []
    extra += ["--no-deps"] if no_deps else []
    if uv:
        head = [uv, "pip", "install", "--python", python, "--reinstall-package", "atelier"]
    else:
        head = [python, "-m", "pip", "install", "--upgrade", "--force-reinstall"]
    return [*head, *extra, source]


async def installed_version(venv: Path) -> str:
    """The atelier version installed in `venv` ('' when none)."""
    code = "import importlib.metadata as m; print(m.version('atelier'))"
    done = await proc.run([venv / "bin" / "python", "-c", code], timeout=60, check=False)
    return done.text.strip() if done.returncode == 0 else ""


async def migrate(config: AtelierConfig) -> None:
    """Apply the database migrations of the running code."""
    url = (
        config.database.url.get_secret_value()
        if config.database.url
        else sqlite_url(config.paths.data_dir)
    )
    db = Database(url)
    try:
        await db.migrate()
    finally:
        await db.close()


async def update(
    source: str,
    *,
    venv: Path,
    config_file: Path,
    restarter: Restarter | None,
    index_url: str | None = None,
    no_deps: bool = False,
    uv: str | None = None,
    extra_steps: Sequence[Sequence[str]] = (),
) -> UpdateReport:
    """Install, stop, migrate, rewrite units, start. Raises ValidationError for a missing
    wheel or environment, CommandError when a step fails (the manager is started again
    with whatever is installed when a later step fails)."""
    if source.endswith(".whl") and not Path(source).is_file():
        raise ValidationError(f"wheel {source} does not exist", field="wheel")
    if not (venv / "bin" / "python").exists():
        raise ValidationError(
            f"{venv} is not a Python environment (no bin/python)",
            field="venv",
            hint="pass the venv Atelier runs from (`dirname $(dirname $(readlink -f $(which atelier)))`)",
        )
    report = UpdateReport(source, venv, await installed_version(venv))
    argv = install_argv(venv, source, index_url=index_url, uv=uv or find_uv(venv), no_deps=no_deps)
    await proc.run(argv, timeout=INSTALL_TIMEOUT)
    report.after = await installed_version(venv)
    report.steps.append(f"installed atelier {report.after} (was {report.before or 'none'})")
    env = {"ATELIER_CONFIG": str(config_file)}
    if restarter is not None:
        report.steps.append(await restarter.stop())
    try:
        await proc.run(
            [venv / "bin" / "atelier", "update", "--migrate-only"], timeout=MIGRATE_TIMEOUT, env=env
        )
        report.steps.append("ran database migrations with the new version")
        for step in extra_steps:
            await proc.run([venv / "bin" / "atelier", *step], timeout=MIGRATE_TIMEOUT, env=env)
            report.steps.append("atelier " + " ".join(step))
    finally:
        if restarter is not None:
            report.steps.append(await restarter.start(venv))
    if isinstance(restarter, ProcessRestart):
        report.manager_pid = restarter.new_pid
    return report
