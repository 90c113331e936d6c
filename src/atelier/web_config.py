"""Configuration section for the dashboard (`web`): sign-in, sessions and Web Push.

It lives beside `atelier.config` rather than inside `atelier.web` because every layer
imports `atelier.config`, and the import-linter layers contract forbids core, db and
runtime from reaching `atelier.web`, even through the config. `atelier.web.config`
re-exports it for the dashboard's own modules.

GitHub sign-in is on when `github_client_id` and `github_client_secret` are set; who may
sign in is decided by `github_allowed_orgs` / `github_allowed_users` (an empty pair lets
nobody in through GitHub, so enabling the provider never opens the host to everyone).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_PUSH_HOSTS = (
    "fcm.googleapis.com",  # Chrome, Chromium, Edge on Android
    "*.push.services.mozilla.com",  # Firefox
    "*.notify.windows.com",  # Edge on Windows
    "web.push.apple.com",  # Safari
    "*.push.apple.com",
)
_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")


def _logins(values: list[str], field: str) -> list[str]:
    for value in values:
        if not _LOGIN.match(value):
            raise ValueError(
                f"{field}: {value!r} is not a GitHub login: use 1-39 letters, digits or '-'"
            )
    return values


class WebConfig(BaseModel):
    """The dashboard: login providers, session lifetime, notifications."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="serve the dashboard from the manager")
    session_hours: float = Field(
        24 * 7, gt=0, le=24 * 90, description="how long a dashboard sign-in lasts"
    )
    password_login: bool = Field(True, description="allow local accounts (argon2 passwords)")
    github_client_id: str | None = Field(None, description="GitHub OAuth app client id")
    github_client_secret: SecretStr | None = Field(None, description="its client secret")
    github_allowed_orgs: list[str] = Field(
        default_factory=list, description="members of these organisations may sign in"
    )
    github_allowed_users: list[str] = Field(
        default_factory=list, description="these GitHub logins may sign in"
    )
    github_create_users: bool = Field(
        True,
        description="create a member account on an allowed user's first sign-in; when off,"
        " only users linked with `github_login` may sign in",
    )
    github_url: str = Field(
        "https://github.com", description="where the authorize and token endpoints live"
    )
    github_api_url: str = Field("https://api.github.com", description="the GitHub REST API")
    push_subject: str = Field(
        "mailto:admin@localhost",
        pattern=r"^(mailto:|https://)",
        description="VAPID contact (mailto: or https: URL) sent to push services",
    )
    push_ttl_s: int = Field(
        3600, ge=0, le=28 * 24 * 3600, description="how long push services keep a message"
    )
    push_hosts: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PUSH_HOSTS),
        description="push services the manager may deliver to (`*.` matches subdomains);"
        " browsers' subscription endpoints elsewhere are refused. http:// is accepted only for"
        " a loopback host listed here (tests)",
    )

    @field_validator("github_allowed_orgs")
    @classmethod
    def _orgs(cls, value: list[str]) -> list[str]:
        return _logins(value, "github_allowed_orgs")

    @field_validator("github_allowed_users")
    @classmethod
    def _users(cls, value: list[str]) -> list[str]:
        return _logins(value, "github_allowed_users")

    @field_validator("github_url", "github_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError(
                f"{value!r} must be an https:// URL (http:// only for loopback test servers)"
            )
        return value.rstrip("/")

    @property
    def github_enabled(self) -> bool:
        """Whether GitHub sign-in is configured."""
        return bool(self.github_client_id and self.github_client_secret)
