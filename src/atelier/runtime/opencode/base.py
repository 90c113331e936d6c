"""What Atelier needs from one OpenCode server: `OpencodeApi` and the values it takes.

`OpencodeClient` implements it over HTTP; tests of the core use in-memory fakes. OpenCode
keeps one *instance* per directory, and sessions, statuses and pending requests are per
instance, so those calls take the `directory` they concern ("" = the server's own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from atelier.runtime.opencode.models import (
    Health,
    MessageInfo,
    OpencodeEvent,
    Pending,
    Session,
    SessionStatus,
    Todo,
)

PermissionReply = Literal["once", "always", "reject"]


@dataclass(frozen=True)
class ModelRef:
    """A provider's model, as OpenCode names it (`anthropic` / `claude-sonnet-4-5`)."""

    provider_id: str
    model_id: str

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """`provider/model` (the model id may itself contain slashes)."""
        provider, _, model = text.partition("/")
        if not provider or not model:
            raise ValueError(f"model {text!r} is not 'provider/model'")
        return cls(provider, model)

    def __str__(self) -> str:
        return f"{self.provider_id}/{self.model_id}"


@dataclass(frozen=True)
class Prompt:
    """A user message for a session, with the model, model variant and agent to use."""

    text: str
    model: ModelRef | None = None
    agent: str | None = None
    variant: str | None = None

    def body(self) -> dict[str, object]:
        """The JSON body of `prompt_async`."""
        body: dict[str, object] = {"parts": [{"type": "text", "text": self.text}]}
        if self.model is not None:
            body["model"] = {"providerID": self.model.provider_id, "modelID": self.model.model_id}
        if self.agent:
            body["agent"] = self.agent
        if self.variant:
            body["variant"] = self.variant
        return body


@runtime_checkable
class OpencodeApi(Protocol):
    """One OpenCode server. Every call raises OpencodeUnavailable when it cannot be reached,
    OpencodeGone for an unknown session or request, OpencodeRejected for refused input."""

    async def health(self) -> Health:
        """Whether the server is up, and its version."""
        ...

    async def sessions(self) -> list[Session]:
        """Every session of every directory."""
        ...

    async def statuses(self, directory: str) -> dict[str, SessionStatus]:
        """Busy/retrying sessions of a directory (absent means idle)."""
        ...

    async def todos(self, session_id: str, directory: str) -> list[Todo]:
        """A session's todo list."""
        ...

    async def messages(self, session_id: str, directory: str, limit: int) -> list[MessageInfo]:
        """Headers of a session's last `limit` messages, oldest first."""
        ...

    async def create_session(
        self, title: str, directory: str, parent_id: str | None = None
    ) -> Session:
        """A new session working in `directory`."""
        ...

    async def prompt(self, session_id: str, prompt: Prompt, directory: str) -> None:
        """Send a message and return at once; the session works in the background."""
        ...

    async def abort(self, session_id: str, directory: str) -> None:
        """Stop what a session is doing."""
        ...

    async def pending(self, directory: str) -> Pending:
        """Permission requests and questions waiting in a directory."""
        ...

    async def answer_permission(
        self, request_id: str, reply: PermissionReply, directory: str, message: str | None = None
    ) -> None:
        """Allow once, always, or reject a permission request."""
        ...

    async def answer_question(
        self, request_id: str, answers: Sequence[Sequence[str]] | None, directory: str
    ) -> None:
        """Answer a question request (one list of labels per question); None rejects it."""
        ...

    def events(self) -> AsyncIterator[OpencodeEvent]:
        """The server's events of every directory, until the stream ends or fails."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
