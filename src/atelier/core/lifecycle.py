"""The sandbox state machine.

    queued ──► creating ──► running ◄──► paused
                  │           │  ▲
                  ▼           ▼  │
                error ◄──── stopping ──► stopped ──► starting ──► running
                  │                         │            │
                  └──────────► destroying ◄─┘            └──► error
                                   │
                                   ▼
                               destroyed

Transitional states (`creating`, `starting`, `stopping`, `destroying`) are held while an
operation runs, so a second conflicting request gets 409 instead of racing it. `error`
keeps the volume: a sandbox in error can be started again (its data is intact) or
destroyed.
"""

from __future__ import annotations

import enum

from atelier.errors import Conflict


class Status(enum.StrEnum):
    """Where a sandbox is in its life."""

    QUEUED = "queued"
    CREATING = "creating"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    STARTING = "starting"
    ERROR = "error"
    DESTROYING = "destroying"
    DESTROYED = "destroyed"


S = Status
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.QUEUED: frozenset({S.CREATING, S.DESTROYING, S.ERROR}),
    S.CREATING: frozenset({S.RUNNING, S.ERROR}),
    S.RUNNING: frozenset({S.STOPPING, S.PAUSED, S.DESTROYING, S.ERROR}),
    S.PAUSED: frozenset({S.RUNNING, S.STOPPING, S.DESTROYING, S.ERROR}),
    S.STOPPING: frozenset({S.STOPPED, S.ERROR}),
    S.STOPPED: frozenset({S.STARTING, S.DESTROYING}),
    S.STARTING: frozenset({S.RUNNING, S.ERROR}),
    S.ERROR: frozenset({S.STARTING, S.DESTROYING}),
    S.DESTROYING: frozenset({S.DESTROYED, S.ERROR}),
    S.DESTROYED: frozenset(),
}

# States in which a VM process may exist and the host holds resources for it.
LIVE = frozenset({S.CREATING, S.RUNNING, S.PAUSED, S.STOPPING, S.STARTING})
# States that count against sandbox limits.
COUNTED = frozenset(set(Status) - {S.DESTROYED, S.DESTROYING})

_VERBS = {
    S.CREATING: "create",
    S.STOPPING: "stop",
    S.STARTING: "start",
    S.PAUSED: "pause",
    S.DESTROYING: "destroy",
    S.RUNNING: "resume",
}


def check_transition(sandbox_id: str, current: Status, target: Status) -> None:
    """Raise Conflict (409) when `current → target` is not allowed."""
    if target not in TRANSITIONS[current]:
        verb = _VERBS.get(target, f"move to {target.value}")
        allowed = sorted(s.value for s in Status if target in TRANSITIONS[s])
        raise Conflict(
            f"cannot {verb} sandbox {sandbox_id}: it is {current.value}",
            hint=f"{verb} is allowed when the sandbox is {' or '.join(allowed)}",
            code="illegal_transition",
        )
