"""OpenCode config files: deep merge (workspace wins), path rules, JSON checks."""

from __future__ import annotations

import json

import pytest

from atelier.core.opencode_config import check_path, deep_merge, merge_files, parse_content
from atelier.errors import ValidationError

AUTH = "~/.local/share/opencode/auth.json"


def test_deep_merge_recurses_replaces_and_deletes() -> None:
    base = {"model": "a/b", "provider": {"x": {"name": "X", "options": {"k": 1}}}, "drop": 1}
    top = {"provider": {"x": {"options": {"k": 2, "j": 3}}}, "drop": None, "share": "disabled"}
    assert deep_merge(base, top) == {
        "model": "a/b",
        "provider": {"x": {"name": "X", "options": {"k": 2, "j": 3}}},
        "share": "disabled",
    }
    assert deep_merge({"l": [1, 2]}, {"l": [3]}) == {"l": [3]}


def test_merge_files_workspace_wins_and_text_is_replaced() -> None:
    main = "~/.config/opencode/opencode.json"
    agents = "~/.config/opencode/AGENTS.md"
    merged = merge_files(
        [
            {main: json.dumps({"model": "g/m", "permission": {"bash": "ask", "edit": "allow"}}),
             agents: "global rules"},
            {main: json.dumps({"permission": {"bash": "allow"}}), agents: "workspace rules"},
        ]
    )  # fmt: skip
    assert json.loads(merged[main]) == {
        "model": "g/m",
        "permission": {"bash": "allow", "edit": "allow"},
    }
    assert merged[agents] == "workspace rules"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/etc/passwd", "must start with ~/"),
        ("~/../root/x", "leaves the home"),
        (AUTH, "managed by auth sync"),
        ("~/.local/share/opencode/./auth.json", "managed by auth sync"),
    ],
)
def test_paths_outside_the_home_or_managed_are_refused(path: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        check_path(path, AUTH)


def test_json_files_must_hold_an_object() -> None:
    assert parse_content("~/a.json", '{"a": 1}') == {"a": 1}
    assert parse_content("~/AGENTS.md", "free text") is None
    with pytest.raises(ValidationError, match="not valid JSON"):
        parse_content("~/a.json", "{")
    with pytest.raises(ValidationError, match="JSON object"):
        parse_content("~/a.json", "[1]")
