"""Typed views of what OpenCode's server API returns, parsed leniently from its JSON.

OpenCode adds fields between releases; parsers read only what Atelier uses and tolerate
missing optional fields, so a newer server keeps working. Times are OpenCode's epoch
milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

StatusKind = Literal["idle", "busy", "retry"]
TodoStatus = Literal["pending", "in_progress", "completed", "cancelled"]
_TODO_STATUSES = ("pending", "in_progress", "completed", "cancelled")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class Health:
    """`GET /global/health`."""

    healthy: bool
    version: str

    @classmethod
    def parse(cls, data: Any) -> Health:
        data = data if isinstance(data, dict) else {}
        return cls(bool(data.get("healthy")), _text(data.get("version")))


@dataclass(frozen=True)
class Session:
    """A conversation; sub-agent sessions carry their parent's id."""

    id: str
    title: str
    directory: str
    parent_id: str | None = None
    created_ms: int = 0
    updated_ms: int = 0

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Session:
        times = _obj(data.get("time"))
        parent = data.get("parentID")
        return cls(
            id=_text(data.get("id")),
            title=_text(data.get("title")),
            directory=_text(data.get("directory")),
            parent_id=parent if isinstance(parent, str) and parent else None,
            created_ms=_int(times.get("created")),
            updated_ms=_int(times.get("updated")),
        )


@dataclass(frozen=True)
class SessionStatus:
    """What a session is doing; a session missing from the status map is idle."""

    kind: StatusKind
    attempt: int | None = None
    message: str | None = None

    @classmethod
    def parse(cls, data: Any) -> SessionStatus:
        data = data if isinstance(data, dict) else {}
        kind = data.get("type")
        if kind == "busy":
            return cls("busy")
        if kind == "retry":
            return cls("retry", _int(data.get("attempt")), _text(data.get("message")) or None)
        return cls("idle")


IDLE = SessionStatus("idle")


@dataclass(frozen=True)
class Todo:
    """One item of a session's todo list."""

    content: str
    status: TodoStatus
    priority: str = "medium"

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Todo:
        status = data.get("status")
        return cls(
            content=_text(data.get("content")),
            status=status if status in _TODO_STATUSES else "pending",
            priority=_text(data.get("priority")) or "medium",
        )


@dataclass(frozen=True)
class MessageInfo:
    """A message's header (never its content): who wrote it and whether it finished."""

    id: str
    role: str
    finish: str | None
    completed: bool
    created_ms: int = 0

    @classmethod
    def parse(cls, data: dict[str, Any]) -> MessageInfo:
        info = _obj(data.get("info")) or data
        times = _obj(info.get("time"))
        finish = info.get("finish")
        return cls(
            id=_text(info.get("id")),
            role=_text(info.get("role")),
            finish=finish if isinstance(finish, str) else None,
            completed=bool(times.get("completed")),
            created_ms=_int(times.get("created")),
        )


@dataclass(frozen=True)
class PermissionRequest:
    """An agent asks to use a tool on something: `patterns` and `metadata` say on what."""

    id: str
    session_id: str
    permission: str
    patterns: tuple[str, ...] = ()
    always: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    directory: str = ""

    @classmethod
    def parse(cls, data: dict[str, Any], directory: str = "") -> PermissionRequest:
        metadata = data.get("metadata")
        return cls(
            id=_text(data.get("id")),
            session_id=_text(data.get("sessionID")),
            permission=_text(data.get("permission")) or _text(data.get("type")) or "permission",
            patterns=tuple(p for p in data.get("patterns") or () if isinstance(p, str)),
            always=tuple(p for p in data.get("always") or () if isinstance(p, str)),
            metadata=metadata if isinstance(metadata, dict) else {},
            directory=directory,
        )

    def subject(self) -> str:
        """What exactly is asked about: the command, the file path or the patterns."""
        for key in ("command", "filePath", "filepath", "path", "url", "pattern"):
            value = self.metadata.get(key)
            if isinstance(value, str) and value:
                return value
        return ", ".join(self.patterns)


@dataclass(frozen=True)
class QuestionOption:
    """One answer a question offers."""

    label: str
    description: str = ""


@dataclass(frozen=True)
class Question:
    """One question of a question request."""

    text: str
    header: str = ""
    options: tuple[QuestionOption, ...] = ()
    multiple: bool = False
    custom: bool = True

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Question:
        options = tuple(
            QuestionOption(_text(o.get("label")), _text(o.get("description")))
            for o in data.get("options") or ()
            if isinstance(o, dict)
        )
        return cls(
            text=_text(data.get("question")),
            header=_text(data.get("header")),
            options=options,
            multiple=bool(data.get("multiple")),
            custom=data.get("custom") is not False,
        )


@dataclass(frozen=True)
class QuestionRequest:
    """An agent asks the user one or more questions."""

    id: str
    session_id: str
    questions: tuple[Question, ...] = ()
    directory: str = ""

    @classmethod
    def parse(cls, data: dict[str, Any], directory: str = "") -> QuestionRequest:
        return cls(
            id=_text(data.get("id")),
            session_id=_text(data.get("sessionID")),
            questions=tuple(
                Question.parse(q) for q in data.get("questions") or () if isinstance(q, dict)
            ),
            directory=directory,
        )


@dataclass(frozen=True)
class Pending:
    """Everything waiting for a human in one directory (OpenCode instance)."""

    permissions: tuple[PermissionRequest, ...] = ()
    questions: tuple[QuestionRequest, ...] = ()


@dataclass(frozen=True)
class OpencodeEvent:
    """One event of the server's stream; `directory` is the instance it came from."""

    type: str
    properties: dict[str, Any]
    directory: str | None = None

    @classmethod
    def parse(cls, data: Any) -> OpencodeEvent | None:
        """An event from `/event` or `/global/event` JSON; None for anything else."""
        if not isinstance(data, dict):
            return None
        directory = data.get("directory")
        payload = _obj(data.get("payload")) or data
        kind = payload.get("type")
        if not isinstance(kind, str):
            return None
        return cls(
            kind,
            _obj(payload.get("properties")),
            directory if isinstance(directory, str) else None,
        )

    @property
    def session_id(self) -> str | None:
        value = self.properties.get("sessionID")
        if isinstance(value, str):
            return value
        return _text(_obj(self.properties.get("info")).get("id")) or None
