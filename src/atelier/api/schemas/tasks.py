"""Tasks, session templates, attention items, OpenCode config and shared auth on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from atelier.core.authsync import AuthSettingsView
from atelier.core.opencode_config import ConfigFileView, PushResult
from atelier.core.tasks import ReviewRequest, TaskCreate, TaskView
from atelier.core.templates import SessionTemplate

Launch = Literal["now", "after_main"]
SandboxChoice = Literal["keep", "stop", "destroy"]


class Camel(BaseModel):
    """camelCase JSON, both spellings accepted, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ReviewIn(Camel):
    template_id: str = Field(min_length=1, max_length=64)
    effort: str | None = Field(None, max_length=64)
    launch: Launch = Field("after_main", description="now: in parallel with the main session")

    def request(self) -> ReviewRequest:
        return ReviewRequest(self.template_id, self.effort, self.launch)


class TaskIn(Camel):
    title: str = Field(min_length=1, max_length=200)
    prompt: str = Field(min_length=1, max_length=100_000)
    workspace_id: str | None = Field(None, max_length=64)
    template_id: str = Field("implement", min_length=1, max_length=64)
    effort: str | None = Field(None, max_length=64)
    model: str | None = Field(None, max_length=200, description="provider/model override")
    agent: str | None = Field(None, max_length=64)
    repos: list[str] | None = Field(None, description="target repositories (default all)")
    base_branch: str | None = Field(None, max_length=255)
    context: str = Field("", max_length=100_000)
    reviews: list[ReviewIn] = Field(default_factory=list, max_length=10)
    start: bool = Field(False, description="queue it at once instead of keeping a draft")

    def request(self) -> TaskCreate:
        data = self.model_dump(exclude={"reviews"})
        return TaskCreate(**data, reviews=[r.request() for r in self.reviews])


class TaskEdit(Camel):
    title: str | None = Field(None, min_length=1, max_length=200)
    prompt: str | None = Field(None, min_length=1, max_length=100_000)
    context: str | None = Field(None, max_length=100_000)
    effort: str | None = Field(None, max_length=64)
    model: str | None = Field(None, max_length=200)
    base_branch: str | None = Field(None, max_length=255)


class CancelIn(Camel):
    sandbox: SandboxChoice = "keep"


class DoneIn(Camel):
    push: bool = Field(False, description="push the task branch (where the git source allows)")
    sandbox: SandboxChoice = "keep"


class TaskSessionOut(Camel):
    position: int
    role: str
    template_id: str
    effort: str | None
    launch: str
    session_id: str | None
    prompted_at: datetime | None


class TaskOut(Camel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    title: str
    prompt: str
    context: str
    status: str
    owner_id: str
    workspace_id: str | None
    template_id: str
    effort: str | None
    model: str | None
    agent: str | None
    repos: list[str] | None
    base_branch: str | None
    error: str | None
    sandbox_id: str | None
    branch: str | None
    directory: str | None
    rendered_prompt: str | None
    progress: dict[str, Any] | None
    queue_position: int | None
    sessions: list[TaskSessionOut]
    actions: list[str]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    review_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, view: TaskView) -> TaskOut:
        return cls.model_validate(view.to_dict())


class EffortIO(Camel):
    name: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=3, max_length=200, description="provider/model")
    variant: str | None = Field(None, max_length=64)
    agent: str | None = Field(None, max_length=64)


class TemplateIn(Camel):
    """A template or a partial override (fields left out keep what it overrides)."""

    name: str | None = Field(None, min_length=1, max_length=100)
    category: Literal["primary", "secondary"] | None = None
    description: str | None = Field(None, max_length=1000)
    prompt: str | None = Field(None, min_length=1, max_length=50_000)
    efforts: list[EffortIO] | None = Field(None, max_length=20)
    default_effort: str | None = Field(None, max_length=64)

    def data(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class TemplateOut(Camel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    name: str
    category: str
    description: str
    prompt: str
    efforts: list[EffortIO]
    default_effort: str
    source: str

    @classmethod
    def of(cls, template: SessionTemplate) -> TemplateOut:
        return cls.model_validate(template.to_dict())


class AttentionReply(Camel):
    reply: Literal["once", "always", "reject", "answer", "skip"]
    answers: list[list[str]] = Field(default_factory=list, description="one list per question")
    message: str | None = Field(None, max_length=2000, description="with reject: why")


class ConfigFileIn(Camel):
    path: str = Field("~/.config/opencode/opencode.json", max_length=255)
    content: str = Field(max_length=256 << 10)


class ConfigFileOut(Camel):
    scope: str
    path: str
    content: str
    updated_at: datetime

    @classmethod
    def of(cls, view: ConfigFileView) -> ConfigFileOut:
        return cls(**view.__dict__)


class PushOut(Camel):
    sandbox_id: str
    ok: bool
    detail: str

    @classmethod
    def of(cls, result: PushResult) -> PushOut:
        return cls(**result.__dict__)


class SharedAuthSettings(Camel):
    enabled: bool = Field(description="share your provider credentials across your sandboxes")


class CredentialOut(Camel):
    provider: str
    kind: str | None
    expires: int | None
    removed: bool
    source: str | None
    updated_at: datetime


class SharedAuthOut(Camel):
    enabled: bool
    default: bool
    warning: str
    credentials: list[CredentialOut]

    @classmethod
    def of(cls, view: AuthSettingsView) -> SharedAuthOut:
        return cls(
            enabled=view.enabled,
            default=view.default,
            warning=view.warning,
            credentials=[CredentialOut(**c.__dict__) for c in view.credentials],
        )
