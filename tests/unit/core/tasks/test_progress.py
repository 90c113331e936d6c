"""Task progress from snapshots: tree, todos, settling, diff parsing."""

from __future__ import annotations

from atelier.core.tasks.git import parse_wc
from atelier.core.tasks.progress import (
    DiffFile,
    DiffStat,
    answered,
    build_tree,
    compute,
    count_todos,
    parse_numstat,
)
from atelier.runtime.opencode import MessageInfo, Session, SessionStatus, Todo

SESSIONS = [
    Session("root", "Main", "/w", None, 1, 10),
    Session("child", "Sub", "/w", "root", 2, 20),
    Session("grandchild", "Sub sub", "/w", "child", 3, 30),
    Session("other", "Unrelated", "/w", None, 4, 99),
]
DONE = MessageInfo("m2", "assistant", "stop", True)
STEP = MessageInfo("m1", "assistant", "tool-calls", True)
ASKED = MessageInfo("m0", "user", None, True)


def test_tree_todos_and_current() -> None:
    todos = {
        "root": [Todo("plan", "completed"), Todo("write", "in_progress"), Todo("x", "cancelled")],
        "grandchild": [Todo("sub work", "in_progress"), Todo("later", "pending")],
    }
    nodes = build_tree(SESSIONS, {"root": "implement"}, {"child": SessionStatus("busy")}, todos)
    assert [n.id for n in nodes[0].walk()] == ["root", "child", "grandchild"]
    assert nodes[0].template_id == "implement" and nodes[0].children[0].status == "busy"
    count = count_todos(nodes)
    assert (count.done, count.in_progress, count.pending, count.total) == (1, 2, 1, 4)
    assert count.current == "write"


def test_settled_needs_idle_tree_finished_answer_and_nothing_pending() -> None:
    idle = build_tree(SESSIONS, {"root": None}, {}, {})
    busy = build_tree(SESSIONS, {"root": None}, {"grandchild": SessionStatus("busy")}, {})
    assert compute(idle, {"root": [ASKED, DONE]}, 0, SESSIONS, None).settled
    assert not compute(idle, {"root": [ASKED]}, 0, SESSIONS, None).settled  # just prompted
    assert not compute(idle, {"root": [ASKED, STEP]}, 0, SESSIONS, None).settled
    assert not compute(busy, {"root": [DONE]}, 0, SESSIONS, None).settled
    assert not compute(idle, {"root": [DONE]}, 1, SESSIONS, None).settled  # attention
    assert not compute(idle, {"root": [DONE]}, 0, SESSIONS, None, waiting_reviews=1).settled
    assert not compute((), {}, 0, SESSIONS, None).settled
    progress = compute(busy, {"root": [DONE]}, 0, SESSIONS, DiffStat((DiffFile("a", 2, 1),)))
    assert progress.busy and progress.last_activity_ms == 30  # "other" is not the task's
    assert progress.to_json()["diff"] == {
        "files": [{"path": "a", "added": 2, "removed": 1, "status": "modified"}],
        "added": 2,
        "removed": 1,
    }
    assert not answered([])


def test_numstat_and_wc_parsing() -> None:
    assert parse_numstat("3\t1\tsrc/a.py\n-\t-\timg.png\nbad line\n") == [
        DiffFile("src/a.py", 3, 1),
        DiffFile("img.png", 0, 0, "binary"),
    ]
    assert parse_wc("  2 new.txt\n") == [DiffFile("new.txt", 2, 0, "untracked")]
    assert parse_wc("  2 a b.txt\n  5 c\n  7 total\n") == [
        DiffFile("a b.txt", 2, 0, "untracked"),
        DiffFile("c", 5, 0, "untracked"),
    ]
    assert parse_wc("") == []
