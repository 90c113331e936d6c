"""The package caches every sandbox installs through: Verdaccio (npm) and proxpi (PyPI).

`config.py` holds the `registry` section, `verdaccio.py` and `pypi_cache.py` the pins,
commands and config of each cache, `install.py` installs them idempotently, `process.py`
runs one as a child, `counters.py` reads hit counters from their logs and evicts old
files, and `guest.py` points a guest's npm, pnpm, yarn, bun, pip and uv at them.
"""

from atelier.runtime.registry.config import RegistryConfig, RegistrySettings, resolve
from atelier.runtime.registry.counters import Counters, Eviction, LogCounter, disk_usage
from atelier.runtime.registry.errors import RegistryError, RegistryNotInstalled
from atelier.runtime.registry.guest import GuestCaches, guest_setup, parse_result
from atelier.runtime.registry.process import CacheProcess, ServerSpec, answers
from atelier.runtime.registry.servers import NAMES, NPM, PYPI, server_specs

__all__ = [
    "NAMES",
    "NPM",
    "PYPI",
    "CacheProcess",
    "Counters",
    "Eviction",
    "GuestCaches",
    "LogCounter",
    "RegistryConfig",
    "RegistryError",
    "RegistryNotInstalled",
    "RegistrySettings",
    "ServerSpec",
    "answers",
    "disk_usage",
    "guest_setup",
    "parse_result",
    "resolve",
    "server_specs",
]
