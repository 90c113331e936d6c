"""Configuration section for images and the guest kernel (`images`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ImagesConfig(BaseModel):
    """Where images come from and which kernel boots them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_image: str = Field(
        "dev-base",
        description="image of sandboxes and workspaces that name none (dev-base: VS Code,"
        " OpenCode, Chromium; minimal: sshd, git and Python, quick to build)",
    )
    kernel: Literal["auto", "custom", "cloud"] = Field(
        "auto",
        description="custom: built from linux-source; cloud: Debian cloud kernel + initramfs;"
        " auto: custom when built, else cloud",
    )
    debian_mirror: str = "http://deb.debian.org/debian"
    debian_security_mirror: str = "http://deb.debian.org/debian-security"
    npm_registry: str = "https://registry.npmjs.org/"
    pypi_index: str = "https://pypi.org/simple"
    build_args: dict[str, str] = Field(
        default_factory=dict,
        description="values for the build arguments recipes declare (opt-in vendor downloads,"
        " e.g. dev-cloud's gcloud_url); `atelier images build --arg` overrides them",
    )
