"""Configuration section `setup`: pre-filled answers for `atelier init`.

Every answer left unset is asked on a terminal (or takes its default with `--yes` or
without a terminal); a value set here skips its prompt, so a config file written before
the first run makes `init` fully unattended. `init` writes the answers it got back into
the config file, so a second run asks nothing and changes nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SetupConfig(BaseModel):
    """Answers for `atelier init` (unset: ask, or take the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str | None = Field(
        None, description="base domain sandboxes are published under (proxy.domain)"
    )
    admin: str | None = Field(None, description="username of the first admin")
    storage: Literal["pool", "skip"] | None = Field(
        None, description="pool: a loop-mounted XFS pool when the data dir cannot reflink"
    )
    network: Literal["setup", "skip"] | None = Field(
        None, description="setup: create the bridge, rules and resolver now"
    )
    kernel: Literal["custom", "cloud", "skip"] | None = Field(
        None, description="custom: build from linux-source (minutes); cloud: Debian's"
    )
    images: list[str] | None = Field(
        None, description="images to build (default: minimal and dev-base)"
    )
    caches: bool | None = Field(None, description="install Verdaccio and the PyPI cache")
    proxy: bool | None = Field(None, description="publish sandboxes over HTTPS through Caddy")
    firecracker: str | None = Field(
        None, description="Firecracker release tarball (path or https URL) on KVM hosts"
    )
