"""The attention feed: what agents in all sandboxes wait for a human about, answered here.

OpenCode permission requests (with the command, path or patterns asked about) and
questions are collected by the sandbox monitors (events as they happen, full re-reads on
reconnect), kept in memory and recorded in the database (history: who answered what), and
shown to whoever may see the sandbox. Answers go back through OpenCode's API: a permission
is allowed once, always, or rejected; a question is answered or skipped. New items are
published as `attention.created` (and sent to the webhook), answered or vanished ones as
`attention.resolved`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from atelier.core.auth import Principal
from atelier.core.tasks.guest import OpencodeAccess
from atelier.core.webhooks import Notice, WebhookSender
from atelier.db.models import AttentionRecord, AuditEvent
from atelier.db.repos import opencode as repo
from atelier.db.types import utcnow
from atelier.errors import NotFound, ValidationError
from atelier.runtime.opencode import (
    OpencodeGone,
    Pending,
    PermissionRequest,
    Question,
    QuestionRequest,
)

log = logging.getLogger(__name__)
Reply = Literal["once", "always", "reject", "answer", "skip"]
TaskOf = Callable[[str, str], tuple[str, str] | None]  # (sandbox, session) -> (id, title)


@dataclass(frozen=True)
class AttentionItem:
    """One pending permission request or question."""

    id: str  # "<sandbox id>:<OpenCode request id>"
    kind: Literal["permission", "question"]
    sandbox_id: str
    request_id: str
    session_id: str
    directory: str
    title: str
    detail: str
    created_at: datetime
    patterns: tuple[str, ...] = ()
    always: tuple[str, ...] = ()  # what "always" would allow from now on
    questions: tuple[Question, ...] = ()
    task_id: str | None = None
    task_title: str | None = None
    audience: frozenset[str] = field(default_factory=frozenset)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "sandboxId": self.sandbox_id,
            "requestId": self.request_id,
            "sessionId": self.session_id,
            "directory": self.directory,
            "title": self.title,
            "detail": self.detail,
            "patterns": list(self.patterns),
            "always": list(self.always),
            "questions": [
                {
                    "question": q.text,
                    "header": q.header,
                    "options": [
                        {"label": o.label, "description": o.description} for o in q.options
                    ],
                    "multiple": q.multiple,
                    "custom": q.custom,
                }
                for q in self.questions
            ],
            "taskId": self.task_id,
            "taskTitle": self.task_title,
            "createdAt": self.created_at.isoformat(),
        }


def _permission(sandbox_id: str, request: PermissionRequest) -> AttentionItem:
    subject = request.subject()
    return AttentionItem(
        id=f"{sandbox_id}:{request.id}",
        kind="permission",
        sandbox_id=sandbox_id,
        request_id=request.id,
        session_id=request.session_id,
        directory=request.directory,
        title=f"{request.permission}: {subject}" if subject else request.permission,
        detail=subject,
        created_at=utcnow(),
        patterns=request.patterns,
        always=request.always,
    )


def _question(sandbox_id: str, request: QuestionRequest) -> AttentionItem:
    first = request.questions[0] if request.questions else Question("")
    return AttentionItem(
        id=f"{sandbox_id}:{request.id}",
        kind="question",
        sandbox_id=sandbox_id,
        request_id=request.id,
        session_id=request.session_id,
        directory=request.directory,
        title=first.header or first.text or "question",
        detail="\n".join(q.text for q in request.questions),
        created_at=utcnow(),
        questions=request.questions,
    )


class AttentionService:
    """The registry of pending items across sandboxes."""

    def __init__(
        self, access: OpencodeAccess, webhooks: WebhookSender, task_of: TaskOf | None = None
    ) -> None:
        self._access = access
        self._manager = access.manager
        self._webhooks = webhooks
        self.task_of: TaskOf = task_of or (lambda _sandbox, _session: None)
        self._items: dict[str, AttentionItem] = {}
        self._lock = asyncio.Lock()

    # collection ---------------------------------------------------------------------

    async def sync(self, sandbox_id: str, pending: Pending) -> None:
        """The complete pending state of one sandbox (after a re-read)."""
        found = [_permission(sandbox_id, p) for p in pending.permissions]
        found += [_question(sandbox_id, q) for q in pending.questions]
        ids = {item.id for item in found}
        for item in found:
            await self._add(item)
        for item in list(self._items.values()):
            if item.sandbox_id == sandbox_id and item.task_id is None:
                task = self.task_of(sandbox_id, item.session_id)
                if task is not None:  # the session was not known to be a task's yet
                    self._items[item.id] = _with(item, item.audience, task)
        for item_id in [i for i, item in self._items.items() if item.sandbox_id == sandbox_id]:
            if item_id not in ids:
                await self._resolve(item_id, None, None)

    async def permission_asked(self, sandbox_id: str, request: PermissionRequest) -> None:
        await self._add(_permission(sandbox_id, request))

    async def question_asked(self, sandbox_id: str, request: QuestionRequest) -> None:
        await self._add(_question(sandbox_id, request))

    async def answered(self, sandbox_id: str, request_id: str, reply: str | None) -> None:
        """OpenCode says a request was answered (here or elsewhere)."""
        await self._resolve(f"{sandbox_id}:{request_id}", None, reply)

    async def forget_sandbox(self, sandbox_id: str) -> None:
        """The sandbox stopped: its requests are gone."""
        for item_id in [i for i, item in self._items.items() if item.sandbox_id == sandbox_id]:
            await self._resolve(item_id, None, "gone")

    async def _add(self, item: AttentionItem) -> None:
        async with self._lock:
            if item.id in self._items:
                return
            row = await self._manager.sandboxes.lookup(item.sandbox_id)
            audience = frozenset({row.owner_id, *(m.user_id for m in row.members)}) if row else None
            task = self.task_of(item.sandbox_id, item.session_id)
            item = _with(item, audience or frozenset(), task)
            async with self._manager.db.session() as session:
                record = await repo.attention(session, item.id)
                if record is not None and record.resolved_by is not None:
                    return  # answered here; OpenCode has not dropped it from its list yet
                fresh = record is None
                if record is None:
                    session.add(
                        AttentionRecord(
                            id=item.id,
                            sandbox_id=item.sandbox_id,
                            kind=item.kind,
                            session_id=item.session_id,
                            task_id=item.task_id,
                            data=item.to_json(),
                        )
                    )
                else:
                    item = _at(item, record.created_at)
            self._items[item.id] = item
        self._manager.bus.publish("attention.created", item.to_json(), audience)
        if fresh and self._webhooks.wants("attention"):
            self._webhooks.send(
                Notice(
                    event="attention.created",
                    title=f"{item.kind.capitalize()} in sandbox {item.sandbox_id}",
                    message=item.title + (f" (task: {item.task_title})" if item.task_title else ""),
                    data=item.to_json(),
                    tags=("warning",) if item.kind == "permission" else ("question",),
                    priority=4,
                )
            )

    async def _resolve(self, item_id: str, by: str | None, reply: str | None) -> None:
        async with self._lock:
            item = self._items.pop(item_id, None)
            async with self._manager.db.session() as session:
                await repo.resolve_attention(session, item_id, utcnow(), by, reply)
        if item is not None:
            data = {"id": item_id, "sandboxId": item.sandbox_id, "reply": reply, "by": by}
            self._manager.bus.publish("attention.resolved", data, item.audience or None)

    # reading and answering ----------------------------------------------------------

    async def pending(
        self,
        principal: Principal,
        *,
        sandbox_id: str | None = None,
        task_id: str | None = None,
    ) -> list[AttentionItem]:
        """Items of the sandboxes the caller may see, oldest first."""
        visible = {v.id for v in await self._manager.sandboxes.list_visible(principal)}
        items = [
            i
            for i in self._items.values()
            if i.sandbox_id in visible
            and (sandbox_id is None or i.sandbox_id == sandbox_id)
            and (task_id is None or i.task_id == task_id)
        ]
        return sorted(items, key=lambda i: i.created_at)

    async def answer(
        self,
        principal: Principal,
        item_id: str,
        reply: Reply,
        answers: Sequence[Sequence[str]] = (),
        message: str | None = None,
    ) -> None:
        """Answer an item through OpenCode; NotFound when it is gone or not the caller's."""
        item = self._items.get(item_id)
        visible = item is not None and item.sandbox_id in {
            v.id for v in await self._manager.sandboxes.list_visible(principal)
        }
        if item is None or not visible:
            raise NotFound(
                f"no pending attention item {item_id!r} (answered or expired)", field="id"
            )
        client = await self._access.client(item.sandbox_id)
        try:
            if item.kind == "permission":
                if reply not in ("once", "always", "reject"):
                    raise ValidationError(
                        f"reply {reply!r} does not fit a permission: use once, always or reject",
                        field="reply",
                    )
                await client.answer_permission(item.request_id, reply, item.directory, message)
            else:
                if reply not in ("answer", "skip"):
                    raise ValidationError(
                        f"reply {reply!r} does not fit a question: use answer or skip",
                        field="reply",
                    )
                if reply == "answer" and len(answers) != len(item.questions):
                    raise ValidationError(
                        f"give one answer list per question ({len(item.questions)})",
                        field="answers",
                    )
                await client.answer_question(
                    item.request_id, answers if reply == "answer" else None, item.directory
                )
        except OpencodeGone:
            await self._resolve(item_id, None, "gone")
            raise NotFound(f"attention item {item_id} was already answered or expired") from None
        await self._resolve(item_id, principal.user_id, reply)
        async with self._manager.db.session() as session:
            session.add(
                AuditEvent(
                    kind="attention.answer",
                    user_id=principal.user_id,
                    sandbox_id=item.sandbox_id,
                    detail={
                        "item": item_id,
                        "kind": item.kind,
                        "reply": reply,
                        "title": item.title,
                    },
                )
            )

    async def restore(self) -> None:
        """At start: close records of sandboxes that stopped while the manager was down."""
        running = {r.id for r in await self._manager.sandboxes.running_rows()}
        async with self._manager.db.session() as session:
            for row in await repo.unresolved_attention(session):
                if row.sandbox_id not in running:
                    row.resolved_at, row.reply = utcnow(), "gone"


def _with(
    item: AttentionItem, audience: frozenset[str], task: tuple[str, str] | None
) -> AttentionItem:
    return replace(
        item,
        audience=audience,
        task_id=task[0] if task else None,
        task_title=task[1] if task else None,
    )


def _at(item: AttentionItem, created: datetime) -> AttentionItem:
    return replace(item, created_at=created)
