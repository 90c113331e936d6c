"""Session templates: built-ins, rendering, unknown variables, merging by id."""

from __future__ import annotations

import pytest

from atelier.core.templates import (
    BUILTINS,
    VARIABLES,
    TemplateSet,
    check_prompt,
    merge,
    parse_template,
    render,
    variables_in,
)
from atelier.errors import ValidationError

VALUES = {name: f"<{name}>" for name in VARIABLES}


def test_the_four_builtins() -> None:
    ids = [t.id for t in BUILTINS]
    assert ids == ["implement", "best-practices", "security-review", "simplification"]
    implement = TemplateSet().get("implement")
    assert implement.category == "primary"
    assert [e.name for e in implement.efforts] == ["low", "medium", "high", "max"]
    assert implement.effort(None).name == "medium"
    assert implement.effort("max").agent == "plan"
    assert implement.effort("high").variant == "max"
    assert all(t.category == "secondary" for t in BUILTINS[1:])
    for template in BUILTINS:
        check_prompt(template.prompt)  # only known variables


def test_render_replaces_variables_and_keeps_literal_braces() -> None:
    text = "Do {task.title} on {branch} in {{braces}}.\n\n\n\n{task.context}\nend"
    rendered = render(text, {**VALUES, "task.context": ""})
    assert rendered == "Do <task.title> on <branch> in {braces}.\n\nend\n"
    assert variables_in("{ task.id } and {sandbox.id}") == ["task.id", "sandbox.id"]


def test_unknown_variable_is_a_validation_error_naming_it() -> None:
    with pytest.raises(ValidationError, match=r"unknown variable \{task.name\}") as caught:
        check_prompt("Hello {task.name}")
    assert caught.value.field == "prompt"
    assert "{task.title}" in caught.value.message


def test_unknown_effort_names_the_choices() -> None:
    with pytest.raises(ValidationError, match="low, medium, high, max"):
        TemplateSet().get("implement").effort("turbo")
    with pytest.raises(ValidationError, match="known: implement"):
        TemplateSet().get("nope")


def test_merge_by_id_global_then_workspace() -> None:
    global_rows = [
        {"id": "implement", "efforts": [{"name": "fast", "model": "openai/gpt-x"}]},
        {
            "id": "docs",
            "name": "Docs",
            "category": "secondary",
            "prompt": "Document {branch}",
            "efforts": [{"name": "std", "model": "a/b"}],
        },
    ]
    workspace_rows = [{"id": "docs", "name": "Docs here"}]
    merged = {t.id: t for t in merge(BUILTINS, global_rows, workspace_rows)}
    implement = merged["implement"]
    assert implement.source == "global" and implement.prompt == BUILTINS[0].prompt
    assert [e.name for e in implement.efforts] == ["fast"] and implement.default_effort == "fast"
    assert merged["docs"].name == "Docs here" and merged["docs"].source == "workspace"
    assert merged["docs"].prompt == "Document {branch}"
    assert list(merged) == [t.id for t in BUILTINS] + ["docs"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {
                "id": "Bad Id",
                "name": "x",
                "prompt": "p",
                "efforts": [{"name": "a", "model": "a/b"}],
            },
            "id",
        ),
        ({"id": "x", "name": "x", "prompt": "p", "efforts": []}, "efforts"),
        (
            {"id": "x", "name": "x", "prompt": "p", "efforts": [{"name": "a", "model": "nomodel"}]},
            "efforts[0].model",
        ),
        (
            {
                "id": "x",
                "name": "x",
                "prompt": "{oops}",
                "efforts": [{"name": "a", "model": "a/b"}],
            },
            "prompt",
        ),
        (
            {
                "id": "x",
                "name": "x",
                "prompt": "p",
                "category": "tertiary",
                "efforts": [{"name": "a", "model": "a/b"}],
            },
            "category",
        ),
        (
            {
                "id": "x",
                "name": "x",
                "prompt": "p",
                "defaultEffort": "z",
                "efforts": [{"name": "a", "model": "a/b"}],
            },
            "defaultEffort",
        ),
    ],
)
def test_invalid_templates_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_template(data, "global")
    assert caught.value.field == field
