"""The task state machine: legal moves, actions per status, clear conflicts."""

from __future__ import annotations

import itertools

import pytest

from atelier.core.tasks.states import (
    ACTIONS,
    TRANSITIONS,
    TaskStatus,
    actions,
    can,
    check_action,
    check_transition,
)
from atelier.errors import Conflict

S = TaskStatus


def test_the_happy_path_is_legal() -> None:
    path = [S.DRAFT, S.QUEUED, S.STARTING, S.RUNNING, S.REVIEW, S.RUNNING, S.REVIEW, S.DONE]
    for current, target in itertools.pairwise(path):
        check_transition("t1", current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.DRAFT, S.RUNNING), (S.DONE, S.RUNNING), (S.QUEUED, S.REVIEW), (S.CANCELLED, S.QUEUED)],
)
def test_illegal_moves_are_conflicts_naming_the_allowed(current: S, target: S) -> None:
    with pytest.raises(Conflict, match=f"cannot go from {current} to {target}"):
        check_transition("t1", current, target)


def test_every_status_has_transitions_and_actions_refer_to_statuses() -> None:
    assert set(TRANSITIONS) == set(S)
    for allowed in ACTIONS.values():
        assert allowed <= set(S)


def test_actions() -> None:
    assert can("start", S.FAILED) and not can("start", S.RUNNING)
    assert actions(S.REVIEW) == ("cancel", "done", "review")
    with pytest.raises(Conflict, match="done is allowed only when review, running"):
        check_action("t1", "done", S.DRAFT)
