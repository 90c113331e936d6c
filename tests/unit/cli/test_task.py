"""`atelier task` rendering: list rows and the detail view, from API JSON (golden text)."""

from __future__ import annotations

import io

from rich.console import Console

from atelier.cli.task import _detail, _row

TASK = {
    "id": "ab12cd34",
    "title": "Greeting file",
    "status": "review",
    "queuePosition": None,
    "workspaceId": "ws1",
    "templateId": "implement",
    "effort": None,
    "sandboxId": "sb123456",
    "branch": "task/ab12cd34",
    "directory": "/home/dev/workspace",
    "createdAt": "2026-11-30T12:00:00+00:00",
    "startedAt": None,
    "error": None,
    "progress": {
        "todos": {"done": 2, "total": 2, "current": None},
        "busy": False,
        "attention": 1,
        "diff": {
            "files": [{"path": "greeting.txt", "added": 1, "removed": 0}],
            "added": 1,
            "removed": 0,
        },
    },
    "sessions": [{"role": "main", "templateId": "implement", "launch": "now", "promptedAt": "x"}],
}


def _render(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=100, no_color=True, highlight=False).print(renderable)
    return out.getvalue()


def test_row() -> None:
    assert _row(TASK) == [
        "ab12cd34", "review !", "Greeting file", "ws1", "task/ab12cd34", "2/2",
        "1 files +1 -0", "2026-11-30 12:00",
    ]  # fmt: skip


def test_detail() -> None:
    assert _render(_detail(TASK)).splitlines() == [
        "ab12cd34  review !  Greeting file",
        "  workspace  ws1",
        "  template   implement (default effort)",
        "  sandbox    sb123456",
        "  branch     task/ab12cd34",
        "  directory  /home/dev/workspace",
        "  todos      2/2",
        "  working    no",
        "  changes    1 files +1 -0",
        "  created    2026-11-30T12:00:00+00:00",
        "    greeting.txt  +1 -0",
        "  session    main implement: started",
    ]
