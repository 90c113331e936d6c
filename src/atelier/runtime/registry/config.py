"""Configuration section for the package caches (`registry`): Verdaccio and the PyPI cache.

`RegistryConfig` holds what an operator sets; `resolve()` turns it into `RegistrySettings`
with every path under the data directory, the addresses the caches listen on (loopback,
plus the bridge address when guests reach the host over a bridge) and the uplinks (by
default the registry and index images are built from: `images.npm_registry`,
`images.pypi_index`). Derived values are recomputed on every start, never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RegistryMode = Literal["off", "service", "child"]
LOOPBACK = "127.0.0.1"


class RegistryConfig(BaseModel):
    """The npm cache (Verdaccio) and the PyPI cache (proxpi) every sandbox installs through."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: RegistryMode = Field(
        "off",
        description="off: guests use the public registries directly; service: systemd units"
        " from `atelier init` run the caches; child: the manager runs them itself",
    )
    npm_port: int = Field(4873, ge=1, le=65535, description="Verdaccio's port")
    pypi_port: int = Field(4874, ge=1, le=65535, description="the PyPI cache's port")
    npm_uplink: str | None = Field(
        None, description="registry Verdaccio proxies; default images.npm_registry"
    )
    pypi_uplink: str | None = Field(
        None, description="simple index the PyPI cache proxies; default images.pypi_index"
    )
    dir: Path | None = Field(
        None, description="programs, config, storage and logs; default <data_dir>/registry"
    )
    max_age_days: int = Field(
        30, ge=1, le=3650, description="cached files unused for longer are evicted"
    )
    pypi_max_size_gb: int = Field(
        20, ge=1, description="the PyPI cache also evicts least-recently used files above this"
    )
    evict_interval_hours: float = Field(6, gt=0, description="how often the manager evicts")
    node_binary: str = Field(
        "", description="Node.js that runs Verdaccio; default the pinned one Atelier installs"
    )
    npm_binary: str = Field("npm", description="npm used to install Verdaccio and Node")
    python_binary: str = Field("/usr/bin/python3", description="Python for the cache's venv")
    ca_file: Path = Field(
        Path("/etc/ssl/certs/ca-certificates.crt"),
        description="CA bundle the caches trust for their uplinks (Debian's system bundle)",
    )

    @model_validator(mode="after")
    def _ports(self) -> RegistryConfig:
        if self.npm_port == self.pypi_port:
            raise ValueError(f"npm_port and pypi_port are both {self.npm_port}")
        for name, url in (("npm_uplink", self.npm_uplink), ("pypi_uplink", self.pypi_uplink)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise ValueError(f"{name} {url!r} must be an http:// or https:// URL")
        return self


@dataclass(frozen=True)
class RegistrySettings:
    """The registry configuration with every default resolved."""

    mode: RegistryMode
    root: Path
    listen: tuple[str, ...]
    npm_port: int
    pypi_port: int
    npm_uplink: str
    pypi_uplink: str
    max_age_days: int
    pypi_max_size: int
    evict_interval_s: float
    node_binary: str
    npm_binary: str
    python_binary: str
    ca_file: Path

    @property
    def enabled(self) -> bool:
        """True unless the caches are off."""
        return self.mode != "off"

    @property
    def ports(self) -> tuple[int, int]:
        """The host ports guests must be allowed to reach."""
        return (self.npm_port, self.pypi_port)

    def with_root(self, root: Path) -> RegistrySettings:
        """The same settings with every path under a staging root (`atelier init --root`)."""
        values = dict(self.__dict__)
        values["root"] = root / self.root.relative_to("/")
        return RegistrySettings(**values)


def resolve(
    config: RegistryConfig,
    *,
    data_dir: Path,
    npm_registry: str,
    pypi_index: str,
    guest_host: str | None = None,
) -> RegistrySettings:
    """Resolve defaults. `guest_host` is the host address guests reach on a bridge (None
    for the user driver, whose guest forwards arrive on loopback)."""
    listen = (LOOPBACK,) if not guest_host or guest_host == LOOPBACK else (LOOPBACK, guest_host)
    root = (config.dir or data_dir / "registry").absolute()
    return RegistrySettings(
        mode=config.mode,
        root=root,
        listen=listen,
        npm_port=config.npm_port,
        pypi_port=config.pypi_port,
        npm_uplink=_slash(config.npm_uplink or npm_registry),
        pypi_uplink=_slash(config.pypi_uplink or pypi_index),
        max_age_days=config.max_age_days,
        pypi_max_size=config.pypi_max_size_gb << 30,
        evict_interval_s=config.evict_interval_hours * 3600,
        node_binary=config.node_binary,
        npm_binary=config.npm_binary,
        python_binary=config.python_binary,
        ca_file=config.ca_file,
    )


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"
