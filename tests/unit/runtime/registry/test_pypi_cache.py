"""The PyPI cache's commands, environment and log counters (proxpi 1.3.1 under gunicorn)."""

from __future__ import annotations

from pathlib import Path

from atelier.runtime.registry import pypi_cache
from atelier.runtime.registry.config import RegistryConfig, resolve
from atelier.runtime.registry.counters import Counters

SETTINGS = resolve(
    RegistryConfig(mode="service", pypi_port=14874, pypi_max_size_gb=2),
    data_dir=Path("/srv/atl"),
    npm_registry="https://registry.npmjs.org/",
    pypi_index="https://pypi.org/simple",
    guest_host="172.16.0.1",
)
ACCESS = '127.0.0.1 - - [30/Nov/2026:11:24:52 +0000] "GET {path} HTTP/1.1" 200 2464 "-" "pip/23"'


def test_gunicorn_binds_every_listen_address() -> None:
    argv = pypi_cache.argv(SETTINGS)
    assert argv[0] == "/srv/atl/registry/pypi-cache/bin/gunicorn"
    binds = [argv[i + 1] for i, a in enumerate(argv) if a == "--bind"]
    assert binds == ["127.0.0.1:14874", "172.16.0.1:14874"]
    assert argv[-1] == "proxpi.server:app"


def test_environment_configures_proxpi() -> None:
    env = pypi_cache.env(SETTINGS)
    assert env["PROXPI_INDEX_URL"] == "https://pypi.org/simple/"
    assert env["PROXPI_CACHE_DIR"] == "/srv/atl/registry/pypi-storage"
    assert env["PROXPI_CACHE_SIZE"] == str(2 << 30)
    assert float(env["PROXPI_DOWNLOAD_TIMEOUT"]) > 60  # never redirect a guest upstream


def test_install_pins_proxpi_and_gunicorn() -> None:
    argv = pypi_cache.install_argv(SETTINGS)
    assert argv[argv.index("--index-url") + 1] == "https://pypi.org/simple/"
    assert argv[-2:] == ["proxpi==1.3.1", "gunicorn==27.0.1"]
    assert pypi_cache.parse_versions("proxpi==1.3.1\nnoise\ngunicorn==27.0.1\n") == pypi_cache.PINS


def test_log_lines_count_requests_fetches_and_hits() -> None:
    lines = [
        ACCESS.format(path="/index/six/"),
        "2026-11-30 11:24:52,715 [   DEBUG] proxpi._cache: Refreshing 'six'",
        "2026-11-30 11:24:53,002 [   DEBUG] proxpi._cache: Downloading 'https://f/six.whl' to '/x'",
        ACCESS.format(path="/index/six/six-1.16.0-py2.py3-none-any.whl"),
        ACCESS.format(path="/index/six/"),
        ACCESS.format(path="/index/six/six-1.16.0-py2.py3-none-any.whl"),
        ACCESS.format(path="/health"),
    ]
    counters = Counters()
    for line in lines:
        pypi_cache.count(line, counters)
    assert (counters.file_requests, counters.file_fetches, counters.file_hits) == (2, 1, 1)
    assert (counters.index_requests, counters.index_fetches, counters.index_hits) == (2, 1, 1)
