"""Configuration section for AI tasks and OpenCode (`opencode` in the config file).

Pins of the OpenCode release, where it lives and listens inside sandboxes, how the manager
talks to it (timeouts, reconnect backoff, polling), the task limits, the optional webhook
and whether users share provider credentials across their sandboxes by default (off: it
may violate some providers' terms).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

OPENCODE_PACKAGE = "opencode-ai"
OPENCODE_VERSION = "1.18.33"
WebhookTopic = Literal["attention", "task"]
WEBHOOK_TOPICS: tuple[WebhookTopic, ...] = ("attention", "task")


class OpencodeConfig(BaseModel):
    """OpenCode in sandboxes, the task queue, attention webhooks and auth sharing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    package: str = Field(OPENCODE_PACKAGE, description="npm package that ships OpenCode")
    version: str = Field(OPENCODE_VERSION, description="the OpenCode release images pin")
    port: int = Field(4096, ge=1, le=65535, description="OpenCode's port inside the guest")
    service: str = Field(
        "opencode", pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", description="guest service name"
    )
    guest_user: str = Field("dev", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    guest_home: str = Field("/home/dev", pattern=r"^/")
    workdir: str = Field(
        "~/workspace",
        pattern=r"^~/",
        description="where tasks without a repository work (a scratch repository)",
    )
    password_file: str = Field(
        "/run/atelier/secrets/opencode-password",
        pattern=r"^/",
        description="the per-sandbox server password the image's service waits for",
    )
    auth_file: str = Field(
        "~/.local/share/opencode/auth.json", description="where OpenCode keeps credentials"
    )
    request_timeout_s: float = Field(
        60.0, gt=0, le=1800, description="one API call (a directory's first one loads plugins)"
    )
    probe_timeout_s: float = Field(
        2.0, gt=0, le=60, description="a readiness probe (OpenCode may never answer its first)"
    )
    ready_timeout_s: float = Field(
        900.0, gt=0, description="wait for OpenCode after boot (minutes under TCG emulation)"
    )
    reconnect_min_s: float = Field(0.5, gt=0, description="first event-stream reconnect delay")
    reconnect_max_s: float = Field(30.0, gt=0, description="longest reconnect delay")
    poll_interval_s: float = Field(
        5.0, gt=0, description="poll the REST API this often while the event stream is down"
    )
    reread_min_interval_s: float = Field(
        1.0, ge=0, description="least time between two re-reads triggered by events"
    )
    resync_interval_s: float = Field(
        60.0, gt=0, description="full re-read even while the stream works (self-healing)"
    )
    max_active_tasks: int = Field(
        3, ge=1, le=100, description="tasks running at once per workspace; the rest queue"
    )
    branch_prefix: str = Field("task/", pattern=r"^[A-Za-z0-9._/-]{1,32}$")
    webhook_url: SecretStr | None = Field(
        None, description="POST new attention items and task status changes here (JSON)"
    )
    webhook_topic: str | None = Field(
        None, description="ntfy topic (when webhook_url is an ntfy server's root URL)"
    )
    webhook_events: list[WebhookTopic] = Field(
        default_factory=lambda: list(WEBHOOK_TOPICS), description="what the webhook carries"
    )
    webhook_timeout_s: float = Field(10.0, gt=0, le=120)
    webhook_retries: int = Field(3, ge=0, le=10)
    auth_sync_default: bool = Field(
        False,
        description="share provider credentials across a user's sandboxes unless the user"
        " chose; may violate some providers' terms, so off by default",
    )
    auth_watch_interval_s: float = Field(
        1.0, gt=0, le=60, description="how often the guest agent checks the credentials file"
    )

    @field_validator("webhook_url")
    @classmethod
    def _http_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("webhook_url must start with http:// or https://")
        return value
