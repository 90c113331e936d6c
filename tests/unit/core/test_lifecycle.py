"""The sandbox state machine."""

from __future__ import annotations

import pytest

from atelier.core.lifecycle import TRANSITIONS, Status, check_transition
from atelier.errors import Conflict


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.QUEUED, Status.CREATING),
        (Status.CREATING, Status.RUNNING),
        (Status.RUNNING, Status.STOPPING),
        (Status.STOPPING, Status.STOPPED),
        (Status.STOPPED, Status.STARTING),
        (Status.STARTING, Status.RUNNING),
        (Status.ERROR, Status.STARTING),
        (Status.ERROR, Status.DESTROYING),
        (Status.RUNNING, Status.PAUSED),
        (Status.PAUSED, Status.RUNNING),
    ],
)
def test_allowed(current: Status, target: Status) -> None:
    check_transition("abcdefgh", current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.STOPPED, Status.STOPPING),
        (Status.RUNNING, Status.STARTING),
        (Status.CREATING, Status.STOPPING),
        (Status.DESTROYED, Status.STARTING),
        (Status.QUEUED, Status.RUNNING),
    ],
)
def test_illegal_transitions_are_409_with_a_hint(current: Status, target: Status) -> None:
    with pytest.raises(Conflict) as info:
        check_transition("abcdefgh", current, target)
    assert info.value.status == 409
    assert current.value in info.value.message
    assert info.value.hint and "allowed when" in info.value.hint


def test_destroyed_is_final_and_every_state_is_covered() -> None:
    assert TRANSITIONS[Status.DESTROYED] == frozenset()
    assert set(TRANSITIONS) == set(Status)
