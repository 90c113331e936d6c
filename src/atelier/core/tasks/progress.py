"""Task progress computed from what OpenCode reports (pure): session tree, todos, settling.

A task's sessions are the roots it started; sub-agent sessions hang below them by
`parent_id`. Todos count across the whole tree (cancelled ones excluded); the current todo
is the first in progress, roots first. A task has *settled* (ready for review) when every
root is idle with its last message a finished assistant answer (not one waiting for tool
results), no session of the tree is busy and nothing waits for a human.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from atelier.runtime.opencode import IDLE, MessageInfo, Session, SessionStatus, Todo


@dataclass(frozen=True)
class SessionNode:
    """One session of a task's tree."""

    id: str
    title: str
    status: str  # idle | busy | retry
    template_id: str | None = None
    todos: tuple[Todo, ...] = ()
    children: tuple[SessionNode, ...] = ()

    def walk(self) -> Iterable[SessionNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "templateId": self.template_id,
            "todos": [{"content": t.content, "status": t.status} for t in self.todos],
            "children": [c.to_json() for c in self.children],
        }


@dataclass(frozen=True)
class DiffFile:
    """Changed lines of one file (untracked files count their lines as added)."""

    path: str
    added: int
    removed: int
    status: str = "modified"  # modified | added | untracked | binary


@dataclass(frozen=True)
class DiffStat:
    """What the task changed in its repositories, against the commit it started from."""

    files: tuple[DiffFile, ...] = ()

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.removed for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [
                {"path": f.path, "added": f.added, "removed": f.removed, "status": f.status}
                for f in self.files
            ],
            "added": self.added,
            "removed": self.removed,
        }


@dataclass(frozen=True)
class TodoCount:
    """Todos of a task's tree."""

    done: int = 0
    in_progress: int = 0
    pending: int = 0
    current: str | None = None

    @property
    def total(self) -> int:
        return self.done + self.in_progress + self.pending


@dataclass(frozen=True)
class TaskProgress:
    """Everything the manager tracks about a running task."""

    sessions: tuple[SessionNode, ...] = ()
    todos: TodoCount = field(default_factory=TodoCount)
    busy: bool = False
    attention: int = 0
    last_activity_ms: int = 0
    settled: bool = False
    diff: DiffStat | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sessions": [s.to_json() for s in self.sessions],
            "todos": {
                "done": self.todos.done,
                "inProgress": self.todos.in_progress,
                "pending": self.todos.pending,
                "total": self.todos.total,
                "current": self.todos.current,
            },
            "busy": self.busy,
            "attention": self.attention,
            "lastActivityMs": self.last_activity_ms,
            "settled": self.settled,
            "diff": self.diff.to_json() if self.diff is not None else None,
        }


def build_tree(
    sessions: Sequence[Session],
    roots: Mapping[str, str | None],
    statuses: Mapping[str, SessionStatus],
    todos: Mapping[str, Sequence[Todo]],
) -> tuple[SessionNode, ...]:
    """The trees below `roots` (session id -> template id), in the order of `roots`."""
    by_id = {s.id: s for s in sessions}
    children: dict[str, list[Session]] = {}
    for session in sessions:
        if session.parent_id:
            children.setdefault(session.parent_id, []).append(session)

    def node(session_id: str, template_id: str | None, depth: int) -> SessionNode:
        session = by_id.get(session_id)
        kids = sorted(children.get(session_id, ()), key=lambda s: s.created_ms)
        return SessionNode(
            id=session_id,
            title=session.title if session else "",
            status=statuses.get(session_id, IDLE).kind,
            template_id=template_id,
            todos=tuple(todos.get(session_id, ())),
            children=tuple(node(k.id, None, depth + 1) for k in kids) if depth < 8 else (),
        )

    return tuple(node(sid, template, 0) for sid, template in roots.items())


def count_todos(nodes: Iterable[SessionNode]) -> TodoCount:
    """Todos across trees; the current one is the first in progress, roots first."""
    done = in_progress = pending = 0
    current: str | None = None
    for root in nodes:
        for session in root.walk():
            for todo in session.todos:
                if todo.status == "completed":
                    done += 1
                elif todo.status == "in_progress":
                    in_progress += 1
                    current = current or todo.content
                elif todo.status == "pending":
                    pending += 1
    return TodoCount(done, in_progress, pending, current)


def answered(messages: Sequence[MessageInfo]) -> bool:
    """Whether a session's last message is a finished answer (not a step awaiting tools)."""
    if not messages:
        return False
    last = messages[-1]
    return last.role == "assistant" and last.completed and last.finish != "tool-calls"


def compute(
    nodes: tuple[SessionNode, ...],
    last_messages: Mapping[str, Sequence[MessageInfo]],
    attention: int,
    sessions: Sequence[Session],
    diff: DiffStat | None,
    waiting_reviews: int = 0,
) -> TaskProgress:
    """A task's progress from its trees, its roots' last messages and pending attention."""
    tree_ids = {n.id for root in nodes for n in root.walk()}
    busy = any(n.status != "idle" for root in nodes for n in root.walk())
    last = max((s.updated_ms for s in sessions if s.id in tree_ids), default=0)
    settled = (
        bool(nodes)
        and not busy
        and attention == 0
        and waiting_reviews == 0
        and all(answered(last_messages.get(root.id, ())) for root in nodes)
    )
    return TaskProgress(
        sessions=nodes,
        todos=count_todos(nodes),
        busy=busy,
        attention=attention,
        last_activity_ms=last,
        settled=settled,
        diff=diff,
    )


def parse_numstat(text: str) -> list[DiffFile]:
    """`git diff --numstat` lines (`added<TAB>removed<TAB>path`; `-` for binary files)."""
    files = []
    for line in text.splitlines():
        parts = line.split("\t", 2)
        if len(parts) != 3:
            continue
        plus, minus, path = parts
        if plus == "-":
            files.append(DiffFile(path, 0, 0, "binary"))
        elif plus.isdigit() and minus.isdigit():
            files.append(DiffFile(path, int(plus), int(minus)))
    return files
