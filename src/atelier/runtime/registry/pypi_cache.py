"""The PyPI cache: proxpi under gunicorn, installed from PyPI into its own venv.

Why proxpi (1.3.1) and not devpi-server: proxpi is configured by a handful of environment
variables (uplink, cache directory, size cap), keeps downloaded files in a plain directory
it re-reads at start, and is ready in about two seconds. devpi-server (6.20, measured here)
fetches PyPI's whole project list on the first request after every start (22-44 s), and
changing its uplink needs its REST API with a root login. gunicorn (27.0.1) serves proxpi
on several addresses at once (loopback and the bridge).

proxpi downloads a file while the client waits; `PROXPI_DOWNLOAD_TIMEOUT` is raised from
its 0.9 s default because on a timeout proxpi redirects the client to the uplink's file
URL, which a sandbox cannot reach. Pure functions of `RegistrySettings` only.
"""

from __future__ import annotations

import re
from pathlib import Path

from atelier.runtime.registry.config import RegistrySettings
from atelier.runtime.registry.counters import Counters

PINS = {"proxpi": "1.3.1", "gunicorn": "27.0.1"}
INSTALL_TIMEOUT = 900.0
PARTIAL_SUFFIX = ".proxpi-partial"

_FILE_REQUEST = re.compile(r'"GET /index/[^/ ]+/[^/ ?]+(?:\?[^ ]*)? HTTP/[0-9.]+" (?:200|304)')
_INDEX_REQUEST = re.compile(r'"GET /index/[^/ ]+/(?:\?[^ ]*)? HTTP/[0-9.]+" (?:200|304)')


def venv_dir(settings: RegistrySettings) -> Path:
    """The cache's own virtual environment."""
    return settings.root / "pypi-cache"


def storage_dir(settings: RegistrySettings) -> Path:
    """Downloaded distribution files."""
    return settings.root / "pypi-storage"


def log_file(settings: RegistrySettings) -> Path:
    """proxpi's log and gunicorn's access log (appended by the supervisor)."""
    return settings.root / "logs" / "pypi-cache.log"


def python(settings: RegistrySettings) -> Path:
    """The venv's interpreter."""
    return venv_dir(settings) / "bin" / "python"


def venv_argv(settings: RegistrySettings) -> list[str]:
    """Create the venv (Debian: needs python3-venv)."""
    return [settings.python_binary, "-m", "venv", "--clear", str(venv_dir(settings))]


def install_argv(settings: RegistrySettings) -> list[str]:
    """pip install of the pinned packages from the uplink index."""
    return [
        str(python(settings)), "-m", "pip", "install",
        "--no-input", "--disable-pip-version-check", "--quiet", "--no-cache-dir",
        "--index-url", settings.pypi_uplink,
        *(f"{name}=={version}" for name, version in PINS.items()),
    ]  # fmt: skip


def versions_argv(settings: RegistrySettings) -> list[str]:
    """Print the installed pinned versions as `name==version` lines."""
    code = (
        "import importlib.metadata as m, sys\n"
        "for n in sys.argv[1:]:\n"
        "    try: print(f'{n}=={m.version(n)}')\n"
        "    except m.PackageNotFoundError: pass\n"
    )
    return [str(python(settings)), "-c", code, *PINS]


def parse_versions(text: str) -> dict[str, str]:
    """`name==version` lines as a mapping."""
    found = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            found[name] = version
    return found


def argv(settings: RegistrySettings) -> list[str]:
    """gunicorn serving proxpi on every listen address, access log on stdout."""
    binds = [arg for host in settings.listen for arg in ("--bind", f"{host}:{settings.pypi_port}")]
    return [
        str(venv_dir(settings) / "bin" / "gunicorn"),
        *binds,
        "--workers", "1",
        "--threads", "16",
        "--timeout", "120",
        "--access-logfile", "-",
        "--error-logfile", "-",
        "proxpi.server:app",
    ]  # fmt: skip


def env(settings: RegistrySettings) -> dict[str, str]:
    """proxpi's settings (it reads only the environment) and the system CA bundle."""
    ca = str(settings.ca_file)
    return {
        "PROXPI_INDEX_URL": settings.pypi_uplink,
        "PROXPI_CACHE_DIR": str(storage_dir(settings)),
        "PROXPI_CACHE_SIZE": str(settings.pypi_max_size),
        "PROXPI_DOWNLOAD_TIMEOUT": "600",
        "PROXPI_INDEX_TTL": "600",
        "PROXPI_LOGGING_LEVEL": "DEBUG",
        "SSL_CERT_FILE": ca,
        "REQUESTS_CA_BUNDLE": ca,
        "HOME": str(venv_dir(settings)),
    }


def ping_url(settings: RegistrySettings) -> str:
    """proxpi's health endpoint on loopback."""
    return f"http://127.0.0.1:{settings.pypi_port}/health"


def index_url(host: str, port: int) -> str:
    """The simple-index URL clients use."""
    return f"http://{host}:{port}/index/"


def count(line: str, counters: Counters) -> None:
    """Add one log line: gunicorn access lines are requests, proxpi's `Downloading` and
    `Refreshing` lines are fetches from the uplink."""
    if "proxpi._cache: Downloading '" in line:
        counters.add_fetch(file=True)
    elif "proxpi._cache: Refreshing '" in line:
        counters.add_fetch(file=False)
    elif _FILE_REQUEST.search(line):
        counters.add_request(file=True)
    elif _INDEX_REQUEST.search(line):
        counters.add_request(file=False)
