"""The task state machine: statuses, legal transitions and what a user may do in each.

    draft ─start─► queued ─admitted─► starting ─► running ◄──► review ─done─► done
                     │                   │           │            │
                     └──────cancel───────┴───────────┴────────────┴──► cancelled
    starting/running ─(spawn, sandbox or OpenCode failure)─► failed ─start─► queued
    failed/cancelled/done ─reset─► draft

`running` ⇄ `review` moves by itself: the root session idle with nothing pending is
`review`; work resuming (a follow-up prompt, a review session) is `running` again.
"""

from __future__ import annotations

import enum

from atelier.errors import Conflict


class TaskStatus(enum.StrEnum):
    """Where a task is."""

    DRAFT = "draft"
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    REVIEW = "review"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


S = TaskStatus
# Statuses that count against a workspace's limit of concurrently active tasks.
ACTIVE = frozenset({S.STARTING, S.RUNNING})
# Statuses whose sandbox the manager follows.
LIVE = frozenset({S.STARTING, S.RUNNING, S.REVIEW})
FINISHED = frozenset({S.DONE, S.FAILED, S.CANCELLED})

TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.DRAFT: frozenset({S.QUEUED, S.CANCELLED}),
    S.QUEUED: frozenset({S.STARTING, S.CANCELLED, S.DRAFT, S.FAILED}),
    S.STARTING: frozenset({S.RUNNING, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.REVIEW, S.DONE, S.FAILED, S.CANCELLED}),
    S.REVIEW: frozenset({S.RUNNING, S.DONE, S.FAILED, S.CANCELLED}),
    S.FAILED: frozenset({S.QUEUED, S.DRAFT, S.CANCELLED}),
    S.CANCELLED: frozenset({S.DRAFT}),
    S.DONE: frozenset({S.DRAFT}),
}

# What a user may ask for, and from which statuses.
ACTIONS: dict[str, frozenset[TaskStatus]] = {
    "start": frozenset({S.DRAFT, S.FAILED}),
    "cancel": frozenset({S.QUEUED, S.STARTING, S.RUNNING, S.REVIEW, S.FAILED}),
    "done": frozenset({S.RUNNING, S.REVIEW}),
    "reset": frozenset({S.FAILED, S.CANCELLED, S.DONE}),
    "delete": frozenset({S.DRAFT, S.FAILED, S.CANCELLED, S.DONE}),
    "edit": frozenset({S.DRAFT}),
    "review": frozenset({S.RUNNING, S.REVIEW}),
}


def can(action: str, status: TaskStatus) -> bool:
    """Whether `action` is allowed in `status`."""
    return status in ACTIONS.get(action, frozenset())


def actions(status: TaskStatus) -> tuple[str, ...]:
    """Every action allowed in `status` (for views)."""
    return tuple(name for name, allowed in ACTIONS.items() if status in allowed)


def check_action(task_id: str, action: str, status: TaskStatus) -> None:
    """Conflict (409) naming the status and the statuses that allow `action`."""
    if not can(action, status):
        allowed = ", ".join(sorted(ACTIONS.get(action, frozenset())))
        raise Conflict(
            f"task {task_id} is {status}: {action} is allowed only when {allowed}",
            field="status",
        )


def check_transition(task_id: str, current: TaskStatus, target: TaskStatus) -> None:
    """Conflict (409) for an illegal move."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing"
        raise Conflict(
            f"task {task_id} cannot go from {current} to {target} (from {current}: {allowed})",
            field="status",
        )
