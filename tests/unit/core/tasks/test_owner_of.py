"""Which task an OpenCode session (and so an attention item) belongs to."""

from __future__ import annotations

from atelier.core.tasks.tracker import owner_of

A = ("t1", "Greeting file")
B = ("t2", "Other task")


def test_a_known_session_gives_its_task() -> None:
    assert owner_of({"s1": A, "s2": B}, "s2") == B


def test_a_new_session_on_a_one_task_sandbox_is_that_tasks() -> None:
    assert owner_of({"s1": A, "s1-child": A}, "review-just-launched") == A


def test_a_new_session_is_nobodys_when_the_sandbox_serves_several_tasks_or_none() -> None:
    assert owner_of({"s1": A, "s2": B}, "unknown") is None
    assert owner_of({}, "unknown") is None
