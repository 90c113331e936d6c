"""The two cache servers as `ServerSpec`s, plus their housekeeping, for one set of settings."""

from __future__ import annotations

from pathlib import Path

from atelier.runtime.registry import pypi_cache, verdaccio
from atelier.runtime.registry.config import RegistrySettings
from atelier.runtime.registry.counters import Eviction, LineCounter, evict, evict_npm
from atelier.runtime.registry.process import ServerSpec

NPM = "verdaccio"
PYPI = "pypi-cache"
NAMES = (NPM, PYPI)


def server_specs(settings: RegistrySettings) -> dict[str, ServerSpec]:
    """Both servers by name."""
    return {
        NPM: ServerSpec(
            NPM,
            tuple(verdaccio.argv(settings)),
            tuple(verdaccio.env(settings).items()),
            verdaccio.log_file(settings),
            verdaccio.ping_url(settings),
            verdaccio.install_dir(settings),
        ),
        PYPI: ServerSpec(
            PYPI,
            tuple(pypi_cache.argv(settings)),
            tuple(pypi_cache.env(settings).items()),
            pypi_cache.log_file(settings),
            pypi_cache.ping_url(settings),
            pypi_cache.venv_dir(settings),
        ),
    }


def line_counters() -> dict[str, LineCounter]:
    """Each server's log-line counter."""
    return {NPM: verdaccio.count, PYPI: pypi_cache.count}


def storage_dirs(settings: RegistrySettings) -> dict[str, Path]:
    """Each server's storage directory."""
    return {NPM: verdaccio.storage_dir(settings), PYPI: pypi_cache.storage_dir(settings)}


def evict_npm_cache(settings: RegistrySettings, now: float | None = None) -> Eviction:
    """Evict Verdaccio's unused tarballs (safe while it runs: it re-fetches on demand)."""
    return evict_npm(verdaccio.storage_dir(settings), settings.max_age_days * 86400.0, now=now)


def evict_pypi_cache(settings: RegistrySettings, now: float | None = None) -> Eviction:
    """Evict proxpi's unused files. Only while it is stopped: it indexes its files at start."""
    return evict(
        pypi_cache.storage_dir(settings),
        settings.max_age_days * 86400.0,
        now=now,
        match=lambda p: not p.name.endswith(pypi_cache.PARTIAL_SUFFIX),
    )
