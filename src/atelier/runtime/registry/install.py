"""Installing and configuring the caches in the registry directory, idempotently.

Each function checks before it acts and returns the actions it took (empty: nothing was
needed), so `atelier init` can run them on every pass. Installs go through the uplinks
themselves: Verdaccio and Node from the npm registry, proxpi from the PyPI index.
"""

from __future__ import annotations

import os
from pathlib import Path

from atelier.errors import AtelierError
from atelier.runtime.host import proc
from atelier.runtime.registry import pypi_cache, verdaccio
from atelier.runtime.registry.config import RegistrySettings
from atelier.runtime.registry.errors import RegistryError


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write `text` atomically unless the file already holds it; True when written."""
    try:
        if path.read_text() == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    tmp.replace(path)
    return True


def npm_missing(settings: RegistrySettings) -> dict[str, str]:
    """Pinned npm packages that are missing or at another version: name → wanted."""
    found = verdaccio.installed_versions(settings)
    return {n: v for n, v in verdaccio.PINS.items() if found.get(n) != v}


async def install_npm_cache(settings: RegistrySettings) -> list[str]:
    """Install the pinned Node and Verdaccio when they are missing or differ."""
    actions = []
    prefix = verdaccio.install_dir(settings)
    prefix.mkdir(parents=True, exist_ok=True, mode=0o755)
    if write_if_changed(prefix / "package.json", verdaccio.package_json()):
        actions.append(f"wrote {prefix / 'package.json'}")
    missing = npm_missing(settings)
    if missing:
        await _run(
            verdaccio.install_argv(settings),
            verdaccio.INSTALL_TIMEOUT,
            "npm install of " + ", ".join(f"{n}@{v}" for n, v in missing.items()),
        )
        still = npm_missing(settings)
        if still:
            raise RegistryError(
                f"after npm install, {', '.join(still)} are still not at the pinned versions",
                hint=f"see {prefix}; is the npm registry {settings.npm_uplink} reachable?",
            )
        actions.append("installed " + ", ".join(f"{n}@{v}" for n, v in missing.items()))
    return actions


def write_npm_config(
    settings: RegistrySettings, *, at: RegistrySettings | None = None
) -> list[str]:
    """Verdaccio's config file and its storage and log directories. The file describes
    `settings`; it and the directories are made where `at` says (a staging root), if given."""
    place = at or settings
    actions = []
    for directory in (verdaccio.storage_dir(place), verdaccio.log_file(place).parent):
        if not directory.exists():
            directory.mkdir(parents=True, mode=0o755)
            actions.append(f"created {directory}")
    path = verdaccio.config_file(place)
    if write_if_changed(path, verdaccio.config_text(settings)):
        actions.append(f"wrote {path}")
    return actions


async def pypi_installed(settings: RegistrySettings) -> dict[str, str]:
    """The pinned Python packages installed in the cache's venv."""
    if not pypi_cache.python(settings).exists():
        return {}
    try:
        done = await proc.run(pypi_cache.versions_argv(settings), timeout=60)
    except AtelierError:
        return {}
    return pypi_cache.parse_versions(done.text)


async def install_pypi_cache(settings: RegistrySettings) -> list[str]:
    """Create the venv and install the pinned proxpi and gunicorn when needed."""
    actions = []
    if not pypi_cache.python(settings).exists():
        await _run(pypi_cache.venv_argv(settings), 300, "creating the PyPI cache's venv")
        actions.append(f"created venv {pypi_cache.venv_dir(settings)}")
    if await pypi_installed(settings) != pypi_cache.PINS:
        await _run(pypi_cache.install_argv(settings), pypi_cache.INSTALL_TIMEOUT, "pip install")
        actions.append("installed " + ", ".join(f"{n}=={v}" for n, v in pypi_cache.PINS.items()))
    for directory in (pypi_cache.storage_dir(settings), pypi_cache.log_file(settings).parent):
        if not directory.exists():
            directory.mkdir(parents=True, mode=0o755)
            actions.append(f"created {directory}")
    return actions


async def _run(argv: list[str], timeout: float, what: str) -> None:
    try:
        await proc.run(argv, timeout=timeout)
    except AtelierError as exc:
        raise RegistryError(
            f"{what} failed: {exc.message}",
            hint=exc.hint or "check that the package registry is reachable from this host",
        ) from exc
